"""Review verbs: request review (again, after an objection), sign off (e-signature), discuss
and resolve objections, promote, roll back, change policy.

Each runs in one transaction, checks permissions here (so UI and API agree) and writes its
audit event in the same transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone

from registry import accounts
from registry.audit.record import audit_record
from registry.errors import Conflict, DomainError, InvalidInput, Locked
from registry.models import ModelVersion, RegisteredModel, VersionStatus
from registry.permissions import can_view_model, person_sees_model, require
from registry.roles import Role, roles_of
from registry.services import validate_instance
from registry.types import Actor, AnyUser

from . import gates
from . import permissions as rules
from .models import (
    COMMENT_MAX_CHARS,
    Comment,
    Decision,
    Objection,
    ObjectionState,
    ProductionEvent,
    ReviewPolicy,
    ReviewRequest,
    SignOff,
)
from .policies import policy_current

MEANINGS: dict[str, str] = {
    Decision.APPROVED: "I have reviewed this version and its reports and approve it for production.",
    Decision.REJECTED: "I have reviewed this version and reject it.",
    Decision.CHANGES_REQUESTED: "I have reviewed this version and request changes before approval.",
    Decision.FAIRNESS_OVERRIDE: "I accept the inconclusive fairness verdict for this version, for the reason given.",
}


def _lock_version(version: ModelVersion) -> ModelVersion:
    return (
        ModelVersion.objects.select_for_update()
        .select_related("model__owner_team")
        .get(pk=version.pk)
    )


def _set_status(
    version: ModelVersion, status: str, *, actor: Actor | None = None, **payload: Any
) -> None:
    """Change a version's status; with an actor, also record ``version.<status>``."""
    ModelVersion.objects.filter(pk=version.pk).update(
        status=status, status_changed_at=timezone.now()
    )
    version.status = status
    if actor is not None:
        audit_record(
            actor=actor,
            action=f"version.{status}",
            obj=version,
            model_name=version.model.name,
            payload={"version": version.version, **payload},
        )


def _objected_since_request(version: ModelVersion) -> bool:
    """Whether someone objected after the version's last review request."""
    last = version.review_requests.order_by("-created_at", "-pk").first()
    objections = version.objections.all()
    if last is not None:
        objections = objections.filter(created_at__gte=last.created_at)
    return objections.exists()


def review_request(*, actor: Actor, version: ModelVersion, note: str = "") -> ReviewRequest:
    """An ML engineer asks for review: registered -> in review; or asks again once someone
    objected (changes requested, or rejected) since the last request: back to in review."""
    require(person_sees_model(actor, version.model), "You may not request reviews for this model.")
    require(
        rules.can_request_review(actor, version),
        "Only the owning team's ML engineers (or an admin) request reviews.",
    )
    with transaction.atomic():
        version = _lock_version(version)
        before = version.status
        again = before in rules.REREVIEW_FROM and _objected_since_request(version)
        if before not in rules.REVIEW_FROM and not again:
            raise Conflict(
                f"Only registered versions can be sent to review; this one is {version.status}."
            )
        policy = _policy_saved(version.model, actor)
        request = ReviewRequest.objects.create(
            version=version, requested_by=actor, note=note, policy_revision=policy.revision
        )
        _set_status(version, VersionStatus.IN_REVIEW)
        payload: dict[str, Any] = {
            "version": version.version,
            "note": note,
            "policy_revision": policy.revision,
        }
        if again:
            open_ids = list(
                version.objections.filter(state=ObjectionState.OPEN).values_list("pk", flat=True)
            )
            payload |= {"from_status": before, "open_objections": open_ids}
        audit_record(
            actor=actor,
            action="review.rerequested" if again else "review.requested",
            obj=version,
            model_name=version.model.name,
            payload=payload,
        )
    return request


def _policy_saved(model: RegisteredModel, actor: Actor) -> ReviewPolicy:
    """The current policy, saving the tier defaults as revision 1 the first time."""
    policy = policy_current(model)
    if policy.pk is None:
        policy.created_by = None
        policy.save()
        audit_record(
            actor=actor,
            action="policy.created",
            obj=policy,
            model_name=model.name,
            payload=policy.as_dict(),
        )
    return policy


def _signing_role(actor: Actor, decision: str, role: str | None) -> str:
    allowed = {r.value for r in rules.signing_roles(actor, decision)}
    require(
        bool(allowed),
        "Only a risk officer may override an inconclusive fairness verdict."
        if decision == Decision.FAIRNESS_OVERRIDE
        else "Only reviewers and risk officers sign off.",
    )
    if role:
        if role not in allowed:
            named = Role(role).label.lower() if role in Role.values else role
            labels = ", ".join(r.label.lower() for r in rules.signing_roles(actor, decision))
            raise InvalidInput.for_field(
                "role", f"You cannot sign as {named}; you may sign as {labels}."
            )
        return role
    default = rules.default_signing_role(actor, decision)
    assert default is not None  # ``allowed`` is not empty
    return default.value


def _signature_reauthenticate(
    *, actor: Actor, version: ModelVersion, password: str, request: HttpRequest | None
) -> None:
    """Check the signer's password through the login lockout: a locked account cannot sign,
    and each failure counts towards the lock and is audited (committed before refusing)."""
    request = getattr(request, "_request", request) or HttpRequest()
    reason = "wrong password"
    refusal: DomainError
    try:
        user = accounts.password_check(
            request, username=actor.get_username(), password=password, own_audit=True
        )
    except Locked as locked:
        reason, user, refusal = "locked", None, locked
    else:
        refusal = InvalidInput.for_field(
            "password", "Password incorrect: re-enter your password to sign."
        )
    if user is not None and user.pk == actor.pk:
        return
    accounts.audit_now(
        actor=actor,
        action="signoff.failed",
        obj=version,
        model_name=version.model.name,
        payload=accounts.attempt_payload(request, actor.get_username())
        | {"version": version.version, "reason": reason},
    )
    raise refusal


def signoff_record(
    *,
    actor: Actor,
    version: ModelVersion,
    decision: str,
    password: str,
    comment: str = "",
    role: str | None = None,
    request: HttpRequest | None = None,
) -> SignOff:
    """Record an electronic signature. The signer re-enters their password; CI never signs.

    ``request`` (the client's address) feeds the login lockout the password check counts in.
    """
    require(rules.signs_in_person(actor), "Only people sign; CI accounts never can.")
    require(can_view_model(actor, version.model), "You may not sign off versions of this model.")
    if decision not in Decision.values:
        raise InvalidInput.for_field("decision", f"Unknown decision {decision!r}.")
    if not password:
        raise InvalidInput.for_field("password", "Re-enter your password to sign.")
    _signature_reauthenticate(actor=actor, version=version, password=password, request=request)
    comment = comment.strip()
    if decision != Decision.APPROVED and not comment:
        raise InvalidInput.for_field("comment", "A comment is required for this decision.")
    signing_role = _signing_role(actor, decision, role)
    require(rules.can_sign(actor, version), "You sign off only models of your teams.")
    with transaction.atomic():
        version = _lock_version(version)
        if version.status not in rules.SIGN_IN:
            raise Conflict(
                f"Versions are signed off while in review; this one is {version.status}."
            )
        if decision in rules.APPROVING:
            require(
                rules.can_approve(actor, version),
                "Separation of duties: the submitter and the model's owning engineers cannot approve it.",
            )
        policy = _policy_saved(version.model, actor)
        subject = gates.signing_subject(version, policy)
        if decision == Decision.APPROVED:
            unfinished = sorted(
                k for k, r in subject["reports"].items() if r["status"] != "succeeded"
            )
            missing = sorted(set(gates.REQUIRED_KINDS) - set(subject["reports"]))
            if unfinished or missing:
                raise Conflict.for_field(
                    "decision",
                    "Approve once the evidence is complete; not finished: "
                    + ", ".join(unfinished + missing)
                    + ".",
                )
        if decision == Decision.FAIRNESS_OVERRIDE:
            fairness = subject["reports"].get("fairness")
            verdict = (
                (version.reports.get(pk=fairness["id"]).result or {}).get("verdict")
                if fairness and fairness["result_sha256"]
                else None
            )
            if verdict != "inconclusive":
                raise Conflict.for_field(
                    "decision",
                    f"Overrides apply to inconclusive fairness verdicts; this one is {verdict or 'not computed'}.",
                )
        signoff = SignOff.objects.create(
            version=version,
            user=actor,
            signer_name=actor.get_full_name() or actor.get_username(),
            role=signing_role,
            decision=decision,
            meaning=MEANINGS[decision],
            comment=comment,
            signed_at=timezone.now(),
            policy_revision=policy.revision,
            subject=subject,
            subject_sha256=gates.subject_hash(subject),
        )
        audit_record(
            actor=actor,
            action=f"signoff.{decision}",
            obj=signoff,
            model_name=version.model.name,
            payload={
                "version": version.version,
                "signer": signoff.signer_name,
                "role": signing_role,
                "decision": decision,
                "meaning": signoff.meaning,
                "comment": comment,
                "subject_sha256": signoff.subject_sha256,
                "policy_revision": policy.revision,
                "reauthenticated": True,
            },
        )
        if decision in rules.OBJECTING:
            _objection_open(actor, version, signoff)
        _after_signoff(actor, version, decision)
    return signoff


def _objection_open(actor: Actor, version: ModelVersion, signoff: SignOff) -> Objection:
    """A rejection or request for changes becomes an item, owned by whoever asked for the
    review it answers."""
    last = version.review_requests.order_by("-created_at", "-pk").first()
    objection = Objection.objects.create(
        version=version,
        signoff=signoff,
        raised_by=actor,
        owner=last.requested_by if last else None,
    )
    audit_record(
        actor=actor,
        action="objection.opened",
        obj=objection,
        model_name=version.model.name,
        payload={
            "version": version.version,
            "signoff_id": signoff.pk,
            "decision": signoff.decision,
            "asked": signoff.comment,
            "owner": objection.owner.get_username() if objection.owner else None,
        },
    )
    return objection


def comment_post(
    *,
    actor: Actor,
    version: ModelVersion,
    body: str,
    reply_to: int | None = None,
    objection: int | None = None,
) -> Comment:
    """Write in a version's review conversation: a comment, a reply to one (``reply_to``),
    or an answer to an objection (``objection``)."""
    require(
        rules.can_comment(actor, version),
        "Auditors read the conversation; they do not write in it.",
    )
    body = body.strip()
    if not body:
        raise InvalidInput.for_field("body", "Write something to post.")
    if len(body) > COMMENT_MAX_CHARS:
        raise InvalidInput.for_field(
            "body", f"At most {COMMENT_MAX_CHARS} characters; this is {len(body)}."
        )
    parent = None
    if reply_to is not None:
        parent = version.comments.filter(pk=reply_to).first()
        if parent is None:
            raise InvalidInput.for_field("reply_to", "No such comment on this version.")
    answered = None
    objection_id = objection if objection is not None else (parent.objection_id if parent else None)
    if objection_id is not None:
        answered = version.objections.filter(pk=objection_id).first()
        if answered is None:
            raise InvalidInput.for_field("objection", "No such objection on this version.")
    with transaction.atomic():
        comment = Comment.objects.create(
            version=version,
            author=actor,
            author_name=actor.get_full_name() or actor.get_username(),
            body=body,
            reply_to=parent,
            objection=answered,
        )
        audit_record(
            actor=actor,
            action="comment.posted",
            obj=comment,
            model_name=version.model.name,
            payload={
                "version": version.version,
                "body": body,
                "reply_to": parent.pk if parent else None,
                "objection": answered.pk if answered else None,
            },
        )
    return comment


def objection_resolve(*, actor: Actor, objection: Objection, note: str = "") -> Objection:
    """Mark an objection answered: it no longer blocks promotion (the sign-off stays on
    record). Its raiser, a risk officer of the owning team, or an admin resolves it."""
    require(
        rules.can_resolve_objection(actor, objection),
        "Whoever raised the objection, a risk officer of the team or an admin resolves it.",
    )
    note = note.strip()
    if len(note) > COMMENT_MAX_CHARS:
        raise InvalidInput.for_field("note", f"At most {COMMENT_MAX_CHARS} characters.")
    with transaction.atomic():
        objection = (
            Objection.objects.select_for_update()
            .select_related("version__model")
            .get(pk=objection.pk)
        )
        if not objection.is_open:
            raise Conflict("This objection is already resolved.")
        objection.state = ObjectionState.RESOLVED
        objection.resolved_by = actor
        objection.resolved_at = timezone.now()
        objection.resolution = note
        objection.save(update_fields=["state", "resolved_by", "resolved_at", "resolution"])
        audit_record(
            actor=actor,
            action="objection.resolved",
            obj=objection,
            model_name=objection.version.model.name,
            payload={
                "version": objection.version.version,
                "signoff_id": objection.signoff_id,
                "note": note,
            },
        )
    return objection


def _after_signoff(actor: Actor, version: ModelVersion, decision: str) -> None:
    """A rejection ends the review; the last required approval marks the version approved."""
    if decision == Decision.REJECTED:
        _set_status(version, VersionStatus.REJECTED, actor=actor)
        return
    result = gates.evaluate(version)
    approvals = next(c for c in result.checks if c.key == "approvals")
    if approvals.passed and version.status == VersionStatus.IN_REVIEW:
        _set_status(version, VersionStatus.APPROVED, actor=actor)


def _require_promoter(
    actor: Actor, version: ModelVersion, allowed: Callable[[AnyUser, ModelVersion], bool]
) -> None:
    """Refuse people who may not ``allowed`` (promote or roll back), saying which part fails."""
    require(person_sees_model(actor, version.model), "You may not promote versions of this model.")
    require(rules.has_promoter_role(actor), "Only risk officers and admins promote to production.")
    require(allowed(actor, version), "You promote only models of your teams.")


def _switch_production(
    *, actor: Actor, version: ModelVersion, action: str, reason: str, result: gates.GateResult
) -> ProductionEvent:
    model = version.model
    current = model.versions.filter(status=VersionStatus.PRODUCTION).first()
    now = timezone.now()
    if current is not None:
        _set_status(current, VersionStatus.ARCHIVED, actor=actor, replaced_by=version.version)
    _set_status(version, VersionStatus.PRODUCTION)
    approvals = [
        {
            "signer": s.signoff.signer_name,
            "role": s.signoff.role,
            "decision": s.signoff.decision,
            "signed_at": s.signoff.signed_at.isoformat(),
            "signoff_id": s.signoff.pk,
        }
        for s in result.standings
        if s.counts
    ]
    event = ProductionEvent.objects.create(
        model=model,
        version=version,
        replaced=current,
        action=action,
        actor=actor,
        reason=reason,
        approvals=approvals,
        at=now,
    )
    audit_record(
        actor=actor,
        action=f"version.{action}",
        obj=version,
        model_name=model.name,
        payload={
            "version": version.version,
            "replaced": current.version if current else None,
            # The role that let the actor do it, as held at the time (roles change later).
            "role": next((r.value for r in Role if r in roles_of(actor) and r.can_promote), None),
            "reason": reason,
            "approvals": approvals,
            "gates_subject_sha256": result.subject_sha256,
            "policy_revision": result.policy.revision,
        },
    )
    return event


def _switch_checked(
    *,
    version: ModelVersion,
    action: str,
    replaces: str,
    allowed_from: tuple[str, ...],
) -> tuple[ModelVersion | None, gates.GateResult]:
    """The checks a promotion or rollback makes before switching: the production version the
    caller decided against, the version's status and every gate. Returns what production is
    now and the gates; changes nothing."""
    current = version.model.versions.filter(status=VersionStatus.PRODUCTION).first()
    if version.status == VersionStatus.PRODUCTION:
        raise Conflict(f"{version.version} is already in production.")
    # The caller names the production version it decided against ("" for none), so
    # a burst of promotions cannot silently overwrite each other.
    if (current.version if current else "") != replaces:
        raise Conflict.for_field(
            "replaces",
            f"Production is now {current.version if current else 'empty'}, not {replaces or 'empty'}; reload and decide again.",
        )
    if version.status not in allowed_from:
        raise Conflict(f"A {version.status} version cannot be {action.replace('_', ' ')}.")
    result = gates.evaluate(version)
    if not result.passed:
        failing = "; ".join(f"{c.name}: {c.reason}" for c in result.failing)
        raise Conflict(
            f"Gates not passed: {failing}",
            errors={"gates": [c.key for c in result.failing]},
        )
    return current, result


def _gated_switch(
    *,
    actor: Actor,
    version: ModelVersion,
    action: str,
    reason: str,
    replaces: str,
    allowed_from: tuple[str, ...],
    allowed: Callable[[AnyUser, ModelVersion], bool],
) -> ProductionEvent:
    _require_promoter(actor, version, allowed)
    try:
        with transaction.atomic():
            # The model row is the lock that orders promotions of its versions.
            RegisteredModel.objects.select_for_update().get(pk=version.model_id)
            version = _lock_version(version)
            _, result = _switch_checked(
                version=version, action=action, replaces=replaces, allowed_from=allowed_from
            )
            return _switch_production(
                actor=actor, version=version, action=action, reason=reason, result=result
            )
    except IntegrityError as exc:
        # The partial unique index caught a concurrent promotion of the same model.
        raise Conflict(
            "Another promotion of this model happened at the same time; reload and decide again."
        ) from exc


@dataclass(frozen=True)
class SwitchPreview:
    """What a promotion or rollback would do, for the person to confirm: the version that
    goes to production, the one it replaces and since when that one has served."""

    version: ModelVersion
    action: str
    replaced: ModelVersion | None
    replaced_since: datetime | None
    replaced_by_whom: str
    gates: gates.GateResult


def version_switch_preview(
    *, actor: Actor, version: ModelVersion, action: str, replaces: str, reason: str = ""
) -> SwitchPreview:
    """Check a promotion (``promoted``) or rollback (``rolled_back``) exactly as its verb will,
    and say what it would replace; changes nothing and records nothing."""
    allowed = (
        rules.can_rollback if action == ProductionEvent.Action.ROLLED_BACK else rules.can_promote
    )
    _require_promoter(actor, version, allowed)
    allowed_from: tuple[str, ...]
    if action == ProductionEvent.Action.ROLLED_BACK:
        if not reason.strip():
            raise InvalidInput.for_field("reason", "Say why you roll back.")
        if not version.production_events.exists():
            raise Conflict("Only versions that were in production can be rolled back to.")
        allowed_from = rules.ROLLBACK_FROM
    elif action == ProductionEvent.Action.PROMOTED:
        allowed_from = rules.PROMOTE_FROM
    else:
        raise InvalidInput.for_field("action", f"Unknown production change {action!r}.")
    current, result = _switch_checked(
        version=version, action=action, replaces=replaces, allowed_from=allowed_from
    )
    since, by = None, ""
    if current is not None:
        started = current.production_events.select_related("actor").order_by("-at", "-pk").first()
        since = started.at if started else current.status_changed_at
        by = started.actor.get_username() if started else ""
    return SwitchPreview(version, action, current, since, by, result)


def version_promote(
    *, actor: Actor, version: ModelVersion, replaces: str, reason: str = ""
) -> ProductionEvent:
    """Put an approved version in production; the previous one is archived. All gates must pass."""
    return _gated_switch(
        actor=actor,
        version=version,
        action=ProductionEvent.Action.PROMOTED,
        reason=reason,
        replaces=replaces,
        allowed_from=rules.PROMOTE_FROM,
        allowed=rules.can_promote,
    )


def version_rollback(
    *, actor: Actor, version: ModelVersion, reason: str, replaces: str
) -> ProductionEvent:
    """Return an archived, once-production version to production, if its approvals and
    reports still hold under the current policy; otherwise it needs a new review."""
    # Permission first, so callers who may not roll back learn nothing about the version.
    _require_promoter(actor, version, rules.can_rollback)
    if not reason.strip():
        raise InvalidInput.for_field("reason", "Say why you roll back.")
    if not version.production_events.exists():
        raise Conflict("Only versions that were in production can be rolled back to.")
    return _gated_switch(
        actor=actor,
        version=version,
        action=ProductionEvent.Action.ROLLED_BACK,
        reason=reason,
        replaces=replaces,
        allowed_from=rules.ROLLBACK_FROM,
        allowed=rules.can_rollback,
    )


POLICY_FIELDS = (
    "required_approvals",
    "require_fairness_not_failed",
    "require_blocking_kpis_met",
    "require_shap_report",
    "signoff_valid_days",
)


def policy_update(
    *, actor: Actor, model: RegisteredModel, base_revision: int | None = None, **changes: Any
) -> ReviewPolicy:
    """Save a new revision of the model's review policy; approvals under older ones lapse.

    ``base_revision``, when given, is the revision the person decided against: if the policy
    moved on since, nothing is saved (they reviewed a change from a policy that is gone)."""
    require(
        rules.can_change_policy(actor, model),
        "Only risk officers of the owning team and admins change review policies.",
    )
    unknown = set(changes) - set(POLICY_FIELDS)
    if unknown:
        raise InvalidInput(f"Unknown policy fields: {', '.join(sorted(unknown))}.")
    approvals = changes.get("required_approvals")
    if approvals is not None:
        signers = {r.value for r in Role if r.can_sign_off}
        if (
            not isinstance(approvals, dict)
            or not approvals
            or any(
                k not in signers or not isinstance(v, int) or v < 1 for k, v in approvals.items()
            )
        ):
            raise InvalidInput.for_field(
                "required_approvals",
                f"A non-empty mapping of {', '.join(sorted(signers))} to counts of at least 1.",
            )
    with transaction.atomic():
        RegisteredModel.objects.select_for_update().get(pk=model.pk)
        current = policy_current(model)
        if base_revision is not None and base_revision != current.revision:
            raise Conflict.for_field(
                "revision",
                f"The policy is now r{current.revision}, not r{base_revision}; review the change again.",
            )
        before = {name: getattr(current, name) for name in POLICY_FIELDS}
        fields = before | changes
        if current.pk and fields == before:
            return current  # nothing changed: no new revision, approvals keep counting
        policy = ReviewPolicy(
            model=model,
            revision=(current.revision + 1) if current.pk else 1,
            created_by=actor,
            **fields,
        )
        validate_instance(policy, exclude=["model", "created_by"])
        policy.save()
        audit_record(
            actor=actor,
            action="policy.changed",
            obj=policy,
            model_name=model.name,
            payload={"from": current.as_dict(), "to": policy.as_dict()},
        )
    return policy
