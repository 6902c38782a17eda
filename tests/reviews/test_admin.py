"""The reviews records in the Django admin: visible to staff, never editable there."""

from __future__ import annotations

import pytest
from django.test import Client

from registry.models import AuditEvent
from reviews.models import (
    Comment,
    Decision,
    Objection,
    ProductionEvent,
    ReviewPolicy,
    ReviewRequest,
    SignOff,
)
from reviews.services import comment_post, version_promote
from tests.builders import PASSWORD, sign

RECORDS = {
    "reviewpolicy": ReviewPolicy,
    "reviewrequest": ReviewRequest,
    "signoff": SignOff,
    "productionevent": ProductionEvent,
}
CONVERSATION = {"objection": Objection, "comment": Comment}


@pytest.fixture
def staff(django_user_model):
    user = django_user_model.objects.create_superuser("root", "root@example.invalid", PASSWORD)
    client = Client()
    client.force_login(user)
    return client


def test_reviews_records_are_read_only_in_the_admin(staff, approved, risk_officer):
    version_promote(actor=risk_officer, version=approved, reason="launch", replaces="")
    assert_read_only(staff, RECORDS)


def test_the_review_conversation_is_read_only_in_the_admin(staff, in_review, reviewer):
    sign(in_review, reviewer, Decision.CHANGES_REQUESTED, comment="more data")
    comment_post(actor=reviewer, version=in_review, body="Which quarter?")
    assert_read_only(staff, CONVERSATION)


def assert_read_only(staff, records) -> None:
    before = AuditEvent.objects.count()

    for record, model in records.items():
        obj = model.objects.first()
        listing = staff.get(f"/admin/reviews/{record}/")
        detail = staff.get(f"/admin/reviews/{record}/{obj.pk}/change/")

        assert listing.status_code == 200, record
        assert detail.status_code == 200, record
        assert f"/admin/reviews/{record}/add/" not in listing.content.decode()
        assert 'name="_save"' not in detail.content.decode()
        assert staff.get(f"/admin/reviews/{record}/add/").status_code == 403
        delete = staff.post(f"/admin/reviews/{record}/{obj.pk}/delete/", {"post": "yes"})
        assert delete.status_code == 403
        assert model.objects.filter(pk=obj.pk).exists()
    assert AuditEvent.objects.count() == before
