"""Who may act on a version's review: pure predicates, written once.

``reviews.services`` enforces them with ``registry.permissions.require``; the version page
shows a button exactly when ``version_actions`` (built from the same predicates) says so.
Each predicate answers "may this person do it to this version at all"; whether the version's
status allows it now is the service's Conflict (and the ``*_FROM`` tables below).
"""

from __future__ import annotations

from explain.permissions import can_request_reports
from registry import permissions
from registry.models import ModelVersion, RegisteredModel, VersionStatus
from registry.roles import Role, has_capability, roles_of
from registry.types import AnyUser

from .models import Decision, Objection
from .policies import sod_excluded

# The statuses each action applies to; the services answer others with a Conflict.
REVIEW_FROM = (VersionStatus.REGISTERED,)
SIGN_IN = (VersionStatus.IN_REVIEW, VersionStatus.APPROVED)
PROMOTE_FROM = (VersionStatus.IN_REVIEW, VersionStatus.APPROVED)
ROLLBACK_FROM = (VersionStatus.ARCHIVED,)
# A version goes back to review from these once someone objected since its last request.
REREVIEW_FROM = (VersionStatus.IN_REVIEW, VersionStatus.APPROVED, VersionStatus.REJECTED)
# Decisions that become objections: items the owning team answers.
OBJECTING = (Decision.REJECTED, Decision.CHANGES_REQUESTED)
# The roles that take part in a review conversation (auditors read it; admins join any).
DISCUSSING = frozenset({Role.ML_ENGINEER, Role.REVIEWER, Role.RISK_OFFICER})
# Decisions that count towards promotion, which the separation of duties forbids some people.
APPROVING = (Decision.APPROVED, Decision.FAIRNESS_OVERRIDE)


def acts_for(user: AnyUser, model: RegisteredModel) -> bool:
    """Admins, and members of the model's owning team: whose review actions the model takes."""
    return permissions.is_admin(user) or permissions.is_team_member(user, model)


def can_request_review(user: AnyUser, version: ModelVersion) -> bool:
    """The owning team's ML engineers (or an admin) send a version to review."""
    return (
        permissions.person_sees_model(user, version.model)
        and has_capability(user, "can_request_review")
        and acts_for(user, version.model)
    )


def can_rerequest_review(user: AnyUser, version: ModelVersion) -> bool:
    """Asking again after an objection: the same people who ask the first time."""
    return can_request_review(user, version)


def can_comment(user: AnyUser, version: ModelVersion) -> bool:
    """People with a part in the review write in its conversation: the owning team's
    engineers, reviewers and risk officers, and admins. Auditors read it; CI never writes."""
    if not permissions.person_sees_model(user, version.model):
        return False
    if permissions.is_admin(user):
        return True
    return bool(roles_of(user) & DISCUSSING) and acts_for(user, version.model)


def can_resolve_objection(user: AnyUser, objection: Objection) -> bool:
    """Whoever raised the objection, a risk officer of the owning team, or an admin says it
    is answered; the engineers it is asked of reply, but never close it themselves."""
    model = objection.version.model
    if not permissions.person_sees_model(user, model):
        return False
    if permissions.is_admin(user):
        return True
    if not acts_for(user, model):
        return False
    return user.pk == objection.raised_by_id or Role.RISK_OFFICER in roles_of(user)


def signs_in_person(user: AnyUser) -> bool:
    """Only people with a password sign (an e-signature is a re-entered password); CI never."""
    return (
        not permissions.is_service_account(user)
        and user.is_authenticated
        and user.has_usable_password()
    )


def signing_roles(user: AnyUser, decision: str = Decision.APPROVED) -> list[Role]:
    """The roles the user may sign ``decision`` as: reviewers and risk officers sign off;
    only risk officers override an inconclusive fairness verdict."""
    if decision == Decision.FAIRNESS_OVERRIDE:
        return sorted(role for role in roles_of(user) if role.can_override)
    return sorted(role for role in roles_of(user) if role.can_sign_off)


def default_signing_role(user: AnyUser, decision: str = Decision.APPROVED) -> Role | None:
    """The role a signature is made in when the signer names none: risk officer if they hold
    it (the stronger attestation), otherwise their one signing role."""
    roles = signing_roles(user, decision)
    if not roles:
        return None
    return Role.RISK_OFFICER if Role.RISK_OFFICER in roles else roles[0]


def can_sign(user: AnyUser, version: ModelVersion) -> bool:
    """Reviewers and risk officers of the owning team (or admins who hold a signing role)."""
    return (
        signs_in_person(user)
        and permissions.can_view_model(user, version.model)
        and bool(signing_roles(user))
        and acts_for(user, version.model)
    )


def can_override(user: AnyUser) -> bool:
    """Whether the user may sign a fairness override (risk officers)."""
    return bool(signing_roles(user, Decision.FAIRNESS_OVERRIDE))


def can_approve(user: AnyUser, version: ModelVersion) -> bool:
    """Separation of duties: the submitter and the owning engineers never approve."""
    return user.pk not in sod_excluded(version)


def has_promoter_role(user: AnyUser) -> bool:
    """Risk officers and admins promote to production."""
    return has_capability(user, "can_promote")


def can_promote(user: AnyUser, version: ModelVersion) -> bool:
    """Risk officers and admins who act for the model put its versions in production."""
    return (
        permissions.person_sees_model(user, version.model)
        and has_promoter_role(user)
        and acts_for(user, version.model)
    )


def can_rollback(user: AnyUser, version: ModelVersion) -> bool:
    """A rollback is a promotion of an archived version: the same people."""
    return can_promote(user, version)


def can_change_policy(user: AnyUser, model: RegisteredModel) -> bool:
    """The review policy is governed like the risk tier it follows."""
    return permissions.can_set_risk_tier(user, model)


def version_actions(
    user: AnyUser,
    version: ModelVersion,
    *,
    fairness_verdict: str | None,
    objected_since_request: bool = False,
) -> dict:
    """Which actions the version page offers: each one's predicate, on a version whose status
    allows it now. ``objected_since_request``: someone objected after the last review request,
    so the owning team may answer and ask again."""
    status = version.status
    return {
        "request_review": status in REVIEW_FROM and can_request_review(user, version),
        "rerequest_review": status in REREVIEW_FROM
        and objected_since_request
        and can_rerequest_review(user, version),
        "comment": can_comment(user, version),
        "sign": status in SIGN_IN and can_sign(user, version),
        "approve": can_approve(user, version),
        "override": can_override(user) and fairness_verdict == "inconclusive",
        "promote": status in PROMOTE_FROM and can_promote(user, version),
        "rollback": status in ROLLBACK_FROM
        and can_rollback(user, version)
        and version.production_events.exists(),
        "explain": hasattr(version, "model_file") and can_request_reports(user, version),
    }
