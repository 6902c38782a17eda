"""Input and output shapes of the reviews API. Serializers validate; they never write."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rest_framework import serializers

from registry.roles import Role

from ..models import (
    COMMENT_MAX_CHARS,
    Comment,
    Decision,
    Objection,
    ProductionEvent,
    ReviewPolicy,
    ReviewRequest,
)
from ..selectors import TimelineEntry

if TYPE_CHECKING:
    from django.contrib.auth.models import User

SIGNING_ROLES = [(role.value, role.label) for role in Role if role.can_sign_off]


# --- review requests -----------------------------------------------------------------------


class ReviewRequestInput(serializers.Serializer):
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000)


class ReviewRequestOutput(serializers.ModelSerializer):
    model = serializers.CharField(source="version.model.name", read_only=True)
    version = serializers.CharField(source="version.version", read_only=True)
    status = serializers.CharField(
        source="version.status", read_only=True, help_text="The version's status now"
    )
    requested_by: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )

    class Meta:
        model = ReviewRequest
        fields = (
            "id",
            "model",
            "version",
            "status",
            "note",
            "requested_by",
            "policy_revision",
            "created_at",
        )


# --- sign-offs -----------------------------------------------------------------------------


class SignOffInput(serializers.Serializer):
    decision = serializers.ChoiceField(choices=Decision.choices)
    comment = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=10000,
        help_text="Required for every decision but approved",
    )
    password = serializers.CharField(
        style={"input_type": "password"},
        trim_whitespace=False,
        write_only=True,
        help_text="Your password, re-entered for every signature",
    )
    role = serializers.ChoiceField(
        choices=SIGNING_ROLES,
        required=False,
        allow_blank=True,
        default="",
        help_text="The role you sign in; by default your strongest signing role",
    )


class SignOffOutput(serializers.Serializer):
    """A sign-off together with whether it still counts, as the gates judge it."""

    id = serializers.IntegerField(source="signoff.pk")
    signer = serializers.CharField(source="signoff.signer_name", help_text="Name at signing")
    username = serializers.CharField(source="signoff.user.username")
    role = serializers.CharField(source="signoff.role")
    decision = serializers.CharField(source="signoff.decision")
    meaning = serializers.CharField(source="signoff.meaning")
    comment = serializers.CharField(source="signoff.comment")
    signed_at = serializers.DateTimeField(source="signoff.signed_at")
    policy_revision = serializers.IntegerField(source="signoff.policy_revision")
    subject_sha256 = serializers.CharField(source="signoff.subject_sha256")
    counts = serializers.BooleanField(help_text="Whether the gates count it now")
    reason = serializers.CharField(help_text="Why it counts or not")


class SignedOutput(SignOffOutput):
    version_status = serializers.CharField(
        source="signoff.version.status", help_text="The version's status after signing"
    )


# --- the review conversation ---------------------------------------------------------------


class CommentInput(serializers.Serializer):
    body = serializers.CharField(
        max_length=COMMENT_MAX_CHARS, help_text="Plain text; recorded in the audit log"
    )
    reply_to = serializers.IntegerField(
        min_value=1,
        allow_null=True,
        default=None,
        help_text="The id of a comment of this version to reply to",
    )
    objection = serializers.IntegerField(
        min_value=1,
        allow_null=True,
        default=None,
        help_text="The id of an objection of this version that this answers (a reply to an "
        "answer answers it too)",
    )


class CommentOutput(serializers.ModelSerializer):
    author: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )
    author_name = serializers.CharField(
        read_only=True, help_text="Full name at the time of writing"
    )
    reply_to = serializers.IntegerField(
        source="reply_to_id", read_only=True, allow_null=True, help_text="The comment it replies to"
    )
    objection = serializers.IntegerField(
        source="objection_id", read_only=True, allow_null=True, help_text="The objection it answers"
    )

    class Meta:
        model = Comment
        fields = ("id", "author", "author_name", "body", "created_at", "reply_to", "objection")


class ObjectionOutput(serializers.ModelSerializer):
    """A rejection or request for changes as an item: what is asked, of whom, and whether it
    still stands (an open objection blocks promotion)."""

    signoff = serializers.IntegerField(
        source="signoff_id", read_only=True, help_text="The sign-off that raised it"
    )
    decision = serializers.CharField(source="signoff.decision", read_only=True)
    comment = serializers.CharField(
        source="signoff.comment", read_only=True, help_text="The sign-off's comment: what is asked"
    )
    raised_by: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )
    owner: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username",
        read_only=True,
        allow_null=True,
        help_text="Who requested the review it answers: the person who must act on it",
    )
    resolved_by: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )

    class Meta:
        model = Objection
        fields = (
            "id",
            "state",
            "signoff",
            "decision",
            "comment",
            "raised_by",
            "owner",
            "created_at",
            "resolved_by",
            "resolved_at",
            "resolution",
        )


class ObjectionResolveInput(serializers.Serializer):
    note = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=COMMENT_MAX_CHARS,
        help_text="How it was answered",
    )


# --- gates ---------------------------------------------------------------------------------


class PolicyRulesOutput(serializers.Serializer):
    revision = serializers.IntegerField()
    required_approvals = serializers.DictField(child=serializers.IntegerField())
    require_fairness_not_failed = serializers.BooleanField()
    require_blocking_kpis_met = serializers.BooleanField()
    require_shap_report = serializers.BooleanField()
    signoff_valid_days = serializers.IntegerField()


class CheckOutput(serializers.Serializer):
    key = serializers.CharField()
    name = serializers.CharField()
    passed = serializers.BooleanField()
    reason = serializers.CharField()
    details = serializers.DictField()


class GateSignOffOutput(serializers.Serializer):
    id = serializers.IntegerField()
    signer = serializers.CharField()
    username = serializers.CharField()
    role = serializers.CharField()
    decision = serializers.CharField()
    signed_at = serializers.DateTimeField()
    counts = serializers.BooleanField()
    reason = serializers.CharField()


class GatesOutput(serializers.Serializer):
    """Documents ``reviews.gates.GateResult.as_dict()``, which the view returns as is."""

    passed = serializers.BooleanField()
    policy = PolicyRulesOutput()
    subject_sha256 = serializers.CharField()
    checks = CheckOutput(many=True)
    signoffs = GateSignOffOutput(many=True)


# --- promotion, rollback, timeline ---------------------------------------------------------


class PromoteInput(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000)
    replaces = serializers.CharField(
        allow_blank=True,
        max_length=100,
        help_text='The production version you saw, "" when there was none; required, and '
        "refused with 409 if production changed since",
    )


class RollbackInput(PromoteInput):
    reason = serializers.CharField(allow_blank=True, max_length=5000, help_text="Why you roll back")


class ProductionEventOutput(serializers.ModelSerializer):
    model = serializers.CharField(source="model.name")
    version = serializers.CharField(source="version.version")
    replaced = serializers.SerializerMethodField(help_text="The version it replaced, if any")
    actor: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )
    approvals = serializers.ListField(child=serializers.DictField())

    class Meta:
        model = ProductionEvent
        fields = (
            "id",
            "model",
            "version",
            "action",
            "at",
            "actor",
            "reason",
            "approvals",
            "replaced",
        )

    def get_replaced(self, obj: ProductionEvent) -> str | None:
        return obj.replaced.version if obj.replaced else None


class EndedByOutput(serializers.Serializer):
    action = serializers.CharField()
    version = serializers.CharField(source="version.version")
    reason = serializers.CharField()
    at = serializers.DateTimeField()
    actor = serializers.CharField(source="actor.username")


class TimelineEntryOutput(serializers.Serializer):
    """One stretch of production: which version, from when until when, why it ended."""

    version = serializers.CharField(source="event.version.version")
    action = serializers.CharField(source="event.action")
    at = serializers.DateTimeField(source="event.at")
    until = serializers.DateTimeField(allow_null=True, help_text="Null while in production")
    actor = serializers.CharField(source="event.actor.username")
    reason = serializers.CharField(source="event.reason")
    approvals = serializers.ListField(source="event.approvals", child=serializers.DictField())
    replaced = serializers.SerializerMethodField(help_text="The version it replaced, if any")
    ended_by = EndedByOutput(allow_null=True, help_text="The event that replaced it, if any")

    def get_replaced(self, entry: TimelineEntry) -> str | None:
        return entry.event.replaced.version if entry.event.replaced else None


class TimelineQuery(serializers.Serializer):
    at = serializers.DateTimeField(
        required=False, help_text="Only what was in production at this moment (ISO 8601)"
    )


# --- review policy -------------------------------------------------------------------------


class ReviewPolicyOutput(serializers.ModelSerializer):
    model = serializers.CharField(source="model.name")
    created_by: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username",
        read_only=True,
        allow_null=True,
        help_text="Null until a revision is saved",
    )
    created_at = serializers.DateTimeField(
        read_only=True, allow_null=True, help_text="Null until a revision is saved"
    )
    saved = serializers.SerializerMethodField(
        help_text="False while the risk tier's defaults apply and nothing was saved yet"
    )

    class Meta:
        model = ReviewPolicy
        fields = (
            "model",
            "revision",
            "required_approvals",
            "require_fairness_not_failed",
            "require_blocking_kpis_met",
            "require_shap_report",
            "signoff_valid_days",
            "saved",
            "created_by",
            "created_at",
        )

    def get_saved(self, obj: ReviewPolicy) -> bool:
        return obj.pk is not None


class ReviewPolicyUpdateInput(serializers.Serializer):
    required_approvals = serializers.DictField(
        child=serializers.IntegerField(min_value=1),
        required=False,
        help_text='Role -> number of distinct approvers, e.g. {"reviewer": 2}',
    )
    require_fairness_not_failed = serializers.BooleanField(required=False)
    require_blocking_kpis_met = serializers.BooleanField(required=False)
    require_shap_report = serializers.BooleanField(required=False)
    signoff_valid_days = serializers.IntegerField(min_value=1, max_value=3650, required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs:
            raise serializers.ValidationError("Name at least one policy field to change.")
        return attrs
