"""Reads shared by the UI and the API, already filtered by what the caller may see."""

from __future__ import annotations

from django.db.models import QuerySet

from .errors import NotFound
from .models import ApiToken, AuditEvent, ModelVersion, RegisteredModel
from .permissions import visible_models
from .roles import has_capability
from .types import AnyUser


def models_visible_to(user: AnyUser, token: ApiToken | None = None) -> QuerySet[RegisteredModel]:
    """The models a user (or a CI token) may know exist."""
    return visible_models(user, token).select_related("owner_team")


def model_for_user(user: AnyUser, name: str, token: ApiToken | None = None) -> RegisteredModel:
    """The named model, or NotFound for outsiders: never a hint that it exists."""
    try:
        return models_visible_to(user, token).get(name=name)
    except RegisteredModel.DoesNotExist:
        raise NotFound(f"No model named {name!r}.") from None


def versions_visible_to(user: AnyUser, token: ApiToken | None = None) -> QuerySet[ModelVersion]:
    """Versions of the models the user may see."""
    return ModelVersion.objects.filter(model__in=models_visible_to(user, token).values("pk"))


def version_for_user(
    user: AnyUser, model_name: str, version: str, token: ApiToken | None = None
) -> ModelVersion:
    """One version of a visible model, or NotFound: one query for a version that is there."""
    visible = models_visible_to(user, token).filter(name=model_name)
    try:
        return ModelVersion.objects.select_related(
            "model__owner_team", "submitted_by", "evaluation_data", "model_file"
        ).get(model__in=visible.values("pk"), version=version)
    except ModelVersion.DoesNotExist:
        model_for_user(user, model_name, token)  # NotFound naming the model, for an outsider
        raise NotFound(f"Model {model_name!r} has no version {version!r}.") from None


def model_versions(model: RegisteredModel) -> QuerySet[ModelVersion]:
    """A model's versions, newest first, with what list pages show."""
    return model.versions.select_related("submitted_by", "evaluation_data")


def audit_events_visible_to(user: AnyUser) -> QuerySet[AuditEvent]:
    """Everything for auditors and admins; otherwise events about the user's visible models."""
    if has_capability(user, "sees_all_models"):
        return AuditEvent.objects.all()
    # The names as values, not a subquery: PostgreSQL then reads each model's newest events
    # from the (model_name, seq) index instead of walking the whole chain backwards.
    names = list(models_visible_to(user).values_list("name", flat=True))
    return AuditEvent.objects.filter(model_name__in=names)
