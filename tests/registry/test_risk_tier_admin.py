"""The Django admin asks the same predicate as the API before it offers the risk tier."""

from __future__ import annotations

from django.contrib.auth.models import Permission
from django.test import Client

from registry.models import RegisteredModel
from registry.roles import Role
from tests.builders import make_user


def staff_client(user) -> Client:
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    user.user_permissions.add(
        *Permission.objects.filter(codename__in=["change_registeredmodel", "view_registeredmodel"])
    )
    client = Client()
    client.force_login(user)
    return client


def change(client, model, risk_tier: str):
    url = f"/admin/registry/registeredmodel/{model.pk}/change/"
    form = {
        "name": model.name,
        "title": model.title,
        "description": "edited in the admin",
        "owner_team": model.owner_team_id,
        "risk_tier": risk_tier,
        "intended_use": model.intended_use,
    }
    return client.get(url), client.post(url, form)


def test_a_staff_engineer_edits_the_model_but_not_its_tier(model, engineer):
    page, response = change(staff_client(engineer), model, "minimal")

    assert 'name="risk_tier"' not in page.content.decode()
    assert response.status_code == 302
    model.refresh_from_db()
    assert (model.description, model.risk_tier) == ("edited in the admin", "high")


def test_a_staff_risk_officer_of_the_team_sets_the_tier(model, team):
    officer = make_user("staff-risk", [Role.RISK_OFFICER], [team])
    page, response = change(staff_client(officer), model, "minimal")

    assert 'name="risk_tier"' in page.content.decode()
    assert response.status_code == 302
    assert RegisteredModel.objects.get(pk=model.pk).risk_tier == "minimal"
