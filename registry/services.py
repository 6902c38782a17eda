"""Registry verbs. Each runs in one transaction, checks the permissions it is handed and
writes its audit event in that same transaction."""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import IO, Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.validators import ASCIIUsernameValidator
from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import Model
from django.utils import timezone

from . import accounts, evaluation, model_files, permissions
from .audit.chain import canonical_json
from .audit.record import audit_event, audit_record, audit_record_many
from .errors import Conflict, InvalidInput, NotAllowed
from .models import (
    KPI,
    ApiToken,
    AuditEvent,
    EvaluationDataset,
    ModelFile,
    ModelVersion,
    Objective,
    RegisteredModel,
    RiskTier,
    ServiceAccount,
    Team,
)
from .types import Actor

logger = logging.getLogger(__name__)

MODEL_FIELDS = ("title", "description", "risk_tier", "intended_use")


def validate_instance(
    instance: Model, *, prefix: str = "", exclude: list[str] | None = None
) -> None:
    """Run model validation and turn failures into field-named InvalidInput."""
    try:
        instance.full_clean(exclude=exclude)
    except ValidationError as exc:
        errors = {f"{prefix}{field}": list(msgs) for field, msgs in exc.message_dict.items()}
        raise InvalidInput("Invalid input.", errors=errors) from exc


# --- models and objectives ---------------------------------------------------------------


def model_create(
    *, actor: Actor, name: str, title: str, owner_team: Team, **fields: Any
) -> RegisteredModel:
    """Register a new model owned by a team."""
    permissions.require(
        permissions.can_create_model(actor, owner_team),
        "You may create models only for teams you belong to, as an ML engineer.",
    )
    unknown = set(fields) - set(MODEL_FIELDS)
    if unknown:
        raise InvalidInput(f"Unknown fields: {', '.join(sorted(unknown))}.")
    model = RegisteredModel(
        name=name, title=title, owner_team=owner_team, created_by=actor, **fields
    )
    validate_instance(model, exclude=["created_by"])
    # The team may ask for more scrutiny than the default tier, never for less: a tier below
    # it is the risk officers' call, as every later change of tier is.
    if RiskTier.values.index(model.risk_tier) < RiskTier.values.index(
        RegisteredModel._meta.get_field("risk_tier").default
    ) and not permissions.can_set_risk_tier(actor, model):
        raise NotAllowed.for_field(
            "risk_tier",
            "A tier below the default is set by the owning team's risk officers or an admin.",
        )
    with transaction.atomic():
        model.save()
        audit_record(
            actor=actor,
            action="model.created",
            obj=model,
            model_name=model.name,
            payload={"name": name, "title": title, "owner_team": owner_team.slug, **fields},
        )
    return model


def model_update(*, actor: Actor, model: RegisteredModel, **changes: Any) -> RegisteredModel:
    """Change a model's descriptive fields (its team) or its risk tier (risk officers); the
    audit event records old and new values."""
    may_edit = permissions.can_manage_model(actor, model)
    may_set_tier = permissions.can_set_risk_tier(actor, model)
    if not may_edit and not (may_set_tier and set(changes) <= {"risk_tier"}):
        raise NotAllowed("Only the owning team's ML engineers or an admin may edit this model.")
    unknown = set(changes) - set(MODEL_FIELDS)
    if unknown:
        raise InvalidInput(f"These fields cannot be changed: {', '.join(sorted(unknown))}.")
    with transaction.atomic():
        model = RegisteredModel.objects.select_for_update().get(pk=model.pk)
        diff = {
            key: {"from": getattr(model, key), "to": value}
            for key, value in changes.items()
            if getattr(model, key) != value
        }
        # The tier decides who must review and what evidence is needed, so the governed team
        # may not change it; resending the current tier (a whole form) needs no right.
        if "risk_tier" in diff and not may_set_tier:
            raise NotAllowed.for_field(
                "risk_tier",
                "Only the owning team's risk officers or an admin change the risk tier.",
            )
        for key, value in changes.items():
            setattr(model, key, value)
        validate_instance(model, exclude=["created_by"])
        if diff:
            model.save(update_fields=list(diff))
            audit_record(
                actor=actor, action="model.updated", obj=model, model_name=model.name, payload=diff
            )
    return model


def objective_create(
    *,
    actor: Actor,
    model: RegisteredModel,
    title: str,
    description: str = "",
    kpis: list[dict[str, Any]],
) -> Objective:
    """Add a business objective with its KPIs."""
    permissions.require(
        permissions.can_manage_model(actor, model),
        "Only the owning team's ML engineers or an admin may add objectives.",
    )
    objective = Objective(model=model, title=title, description=description)
    validate_instance(objective)
    kpi_rows = [KPI(objective=objective, **spec) for spec in kpis]
    for index, kpi in enumerate(kpi_rows):
        validate_instance(kpi, prefix=f"kpis.{index}.", exclude=["objective"])
    with transaction.atomic():
        objective.save()
        for kpi in kpi_rows:
            kpi.objective = objective
            kpi.save()
        audit_record(
            actor=actor,
            action="objective.created",
            obj=objective,
            model_name=model.name,
            payload={"title": title, "kpis": kpis},
        )
    return objective


# --- versions ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Registration:
    """The outcome of a registration: the version, and whether this call created it."""

    version: ModelVersion
    created: bool


VERSION_FIELDS = (
    "artifact_uri",
    "artifact_sha256",
    "code_commit",
    "training_data_uri",
    "training_data_sha256",
)


def _content_sha256(metadata: dict[str, Any], data_sha: str, model_sha: str) -> str:
    body = {"metadata": metadata, "evaluation_data_sha256": data_sha, "model_sha256": model_sha}
    return hashlib.sha256(canonical_json(body).encode()).hexdigest()


def _existing_registration(
    model: RegisteredModel, version: str, content_sha: str, idempotency_key: str
) -> Registration | None:
    """The earlier registration this request repeats, or a Conflict if it contradicts one."""
    existing = model.versions.filter(version=version).first()
    if existing is not None:
        if existing.content_sha256 != content_sha:
            raise Conflict.for_field(
                "metadata.version",
                f"Version {version!r} of {model.name!r} is already registered with different content.",
            )
        return Registration(existing, created=False)
    if idempotency_key and model.versions.filter(idempotency_key=idempotency_key).exists():
        raise Conflict.for_field(
            "Idempotency-Key", "This key was already used for another version of this model."
        )
    return None


def version_register(
    *,
    actor: Actor,
    model: RegisteredModel,
    metadata: dict[str, Any],
    evaluation_file: IO[bytes],
    evaluation_filename: str = "evaluation.csv",
    model_file: IO[bytes] | None = None,
    model_filename: str = "",
    idempotency_key: str = "",
    token: ApiToken | None = None,
    after_create: Callable[..., list[AuditEvent] | None] | None = None,
) -> Registration:
    """Store a candidate version with its evaluation data (and optional model file).

    Repeating a registration with the same content returns the stored version; the same
    version string with other content is a Conflict. Nothing partial is left on failure.
    ``after_create(version=..., actor=...)`` runs for a new version inside its transaction and
    returns the audit events (from ``audit_event``) to record after ``version.registered``:
    ``explain.services.version_register`` queues the version's reports with it.
    """
    permissions.require(
        permissions.can_register_version(actor, model, token),
        "You may not register versions of this model.",
    )

    # One read of the upload, in bounded blocks: digest, format, row count and column checks.
    data = evaluation.dataset_check(evaluation_file, evaluation_filename, metadata["columns"])
    data_sha, fmt, roles = data.sha256, data.format, data.roles

    model_info = None
    if model_file is not None:
        try:
            content = model_file.read()
            model_files.detect_format(content[:16], model_filename)
            model_info = model_files.inspect_model_file(content)
        except model_files.UnsafeModelFile as exc:
            raise InvalidInput.for_field("model", str(exc)) from exc
        finally:
            model_file.seek(0)
        if metadata.get("artifact_is_model_file", True) and (
            metadata["artifact_sha256"] != model_info.sha256
        ):
            raise InvalidInput.for_field(
                "metadata.artifact_sha256",
                f"Does not match the uploaded model file (sha256 {model_info.sha256}).",
            )

    content_sha = _content_sha256(metadata, data_sha, model_info.sha256 if model_info else "")
    version = ModelVersion(
        model=model,
        version=metadata["version"],
        metrics=metadata.get("metrics") or {},
        params=metadata.get("params") or {},
        tags=metadata.get("tags") or {},
        submitted_by=actor,
        idempotency_key=idempotency_key,
        content_sha256=content_sha,
        **{field: metadata[field] for field in VERSION_FIELDS},
    )
    validate_instance(version, prefix="metadata.", exclude=["model", "submitted_by"])

    # No look-up first: a repeat, or a clash with an earlier version or key, is the unique
    # constraints' IntegrityError on the version's insert, the first write (before any file
    # is stored), and is answered below; a new version, the usual case, costs no query.
    stored: list[str] = []
    folder = f"{model.name}/{version.version}"
    # Set by the first on-commit callback: from then on the version is durable, and neither
    # its files nor the answer may depend on what later callbacks (enqueueing) do.
    committed: list[bool] = []
    try:
        with transaction.atomic():
            transaction.on_commit(lambda: committed.append(True))
            version.save()
            path = default_storage.save(
                f"evaluation/{folder}/{data_sha[:16]}.{fmt}", File(evaluation_file)
            )
            stored.append(path)
            EvaluationDataset.objects.create(
                version=version,
                file=path,
                format=fmt,
                sha256=data_sha,
                size_bytes=data.size,
                row_count=data.row_count,
                label_column=roles.label,
                prediction_column=roles.prediction,
                score_column=roles.score,
                favorable_label=roles.favorable_label,
                protected=roles.protected,
                feature_columns=roles.features,
            )
            if model_info is not None:
                path = default_storage.save(
                    f"models/{folder}/{model_info.sha256[:16]}.{model_info.format}",
                    File(model_file),
                )
                stored.append(path)
                ModelFile.objects.create(
                    version=version,
                    file=path,
                    format=model_info.format,
                    sha256=model_info.sha256,
                    size_bytes=model_info.size,
                    estimator=model_info.estimator_class,
                )
            else:
                # Known to have none: what after_create asks of version.model_file needs no query.
                ModelVersion.model_file.related.set_cached_value(version, None)
            registered = audit_event(
                actor=actor,
                action="version.registered",
                obj=version,
                model_name=model.name,
                payload={
                    "version": version.version,
                    "content_sha256": content_sha,
                    "evaluation_data_sha256": data_sha,
                    "model_file_sha256": model_info.sha256 if model_info else None,
                    "artifact_sha256": version.artifact_sha256,
                    "code_commit": version.code_commit,
                    "via_token": token.prefix if token else None,
                },
            )
            # What after_create records (the reports it queues) follows version.registered on
            # the chain, all under one take of the head lock.
            later = after_create(version=version, actor=actor) if after_create else None
            audit_record_many([registered, *(later or [])])
    except BaseException as exc:
        if committed:
            if not isinstance(exc, Exception):
                raise  # a timeout or shutdown (gunicorn's SystemExit): the files stay
            # A callback after the commit failed (the broker, a database blip): the version
            # is stored and the sweep sends its reports, so this registration succeeded.
            logger.warning("After registering %s, an on-commit step failed", version, exc_info=True)
            _drop_broken_connection()
            return Registration(version, created=True)
        _delete_unless_committed(stored, version)
        if isinstance(exc, IntegrityError):
            # A repeat, a clash, or a concurrent request that registered it first.
            repeated = _existing_registration(model, version.version, content_sha, idempotency_key)
            if repeated:
                return repeated
        raise
    # A robust on-commit callback may have met a dropped connection: the answer still needs one.
    _drop_broken_connection()
    return Registration(version, created=True)


def _drop_broken_connection() -> None:
    """Close the connection if a database error broke it; the next query opens a new one."""
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        connection.close_if_unusable_or_obsolete()


def _delete_unless_committed(paths: list[str], version: ModelVersion) -> None:
    """Delete a failed registration's files, unless its version row exists after all (the
    connection dropped during COMMIT, which may have gone through): files of a committed
    version are never deleted; when the database cannot say, they are kept."""
    if not paths:
        return
    try:
        _drop_broken_connection()
        exists = ModelVersion.objects.filter(pk=version.pk).exists() if version.pk else False
    except Exception:
        logger.warning("Keeping the files of %s: cannot tell if it committed", version)
        return
    if not exists:
        for path in paths:
            default_storage.delete(path)


# --- accounts and tokens -------------------------------------------------------------------


def _new_token_secret() -> str:
    return "gh_" + secrets.token_urlsafe(32)


@dataclass(frozen=True)
class IssuedToken:
    """A token and its secret; the secret is shown once and never stored."""

    token: ApiToken
    secret: str


def token_issue(
    *,
    actor: Actor | None,
    user: Actor,
    name: str,
    models: list[RegisteredModel] | tuple = (),
    teams: list[Team] | tuple = (),
    days: int | None = None,
) -> IssuedToken:
    """Issue an API token for ``user``; CI tokens carry a scope of models and teams.

    ``days`` is the lifetime. Personal tokens default to GATEHOUSE_TOKEN_DAYS and may not
    outlive it; CI tokens never expire unless given one.
    """
    permissions.require(
        permissions.can_issue_token(actor, user), "Only admins issue tokens for other accounts."
    )
    is_ci = permissions.is_service_account(user)
    if is_ci and not (models or teams):
        raise InvalidInput.for_field("scope", "A CI token needs at least one model or team.")
    expires_at = _token_expiry(days, personal=not is_ci)
    secret = _new_token_secret()
    with transaction.atomic():
        token = ApiToken.objects.create(
            user=user,
            name=name,
            prefix=secret[:10],
            key_sha256=hashlib.sha256(secret.encode()).hexdigest(),
            expires_at=expires_at,
        )
        token.scope_models.set(models)
        token.scope_teams.set(teams)
        audit_record(
            actor=actor,
            action="token.issued",
            obj=token,
            payload={
                "user": user.get_username(),
                "name": name,
                "prefix": token.prefix,
                "models": sorted(m.name for m in models),
                "teams": sorted(t.slug for t in teams),
                "expires_at": expires_at,
            },
        )
    return IssuedToken(token, secret)


def _token_expiry(days: int | None, *, personal: bool) -> datetime | None:
    """When a new token expires: ``days`` from now, the personal default, or never."""
    limit = settings.GATEHOUSE_TOKEN_DAYS if personal else 0
    if days is not None and (isinstance(days, bool) or not isinstance(days, int) or days < 1):
        raise InvalidInput.for_field("days", "A lifetime is a whole number of days, at least 1.")
    if days is not None and limit and days > limit:
        raise InvalidInput.for_field("days", f"Personal tokens live at most {limit} days.")
    days = days or limit
    return timezone.now() + timedelta(days=days) if days else None


def token_revoke(*, actor: Actor, token: ApiToken) -> ApiToken:
    """Revoke a token at once; revoking twice is harmless."""
    permissions.require(
        permissions.can_revoke_token(actor, token), "You may revoke only your own tokens."
    )
    with transaction.atomic():
        updated = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
        if updated:
            audit_record(
                actor=actor,
                action="token.revoked",
                obj=token,
                payload={"user": token.user.get_username(), "prefix": token.prefix},
            )
    token.refresh_from_db()
    return token


# Account names and team slugs start with a letter, digit or underscore: a leading
# = + - @ is read as a formula by spreadsheets that open an audit export.
_PLAIN_START = re.compile(r"[A-Za-z0-9_]")
_account_name_validator = ASCIIUsernameValidator()


def _account_name_check(name: str) -> None:
    """A CI account name is a plain ASCII Django username that starts like a word."""
    limit = get_user_model()._meta.get_field("username").max_length
    message = (
        f"Use at most {limit} letters, digits and @ . + - _ (ASCII), starting with a letter, "
        "digit or underscore."
    )
    try:
        _account_name_validator(name)
    except ValidationError as exc:
        raise InvalidInput.for_field("name", message) from exc
    if (limit is not None and len(name) > limit) or not _PLAIN_START.match(name):
        raise InvalidInput.for_field("name", message)


def ci_account_create(
    *,
    actor: Actor | None,
    name: str,
    models: list[RegisteredModel] | tuple = (),
    teams: list[Team] | tuple = (),
    description: str = "",
) -> IssuedToken:
    """Create a CI service account with one scoped token; returns the token's secret once."""
    _account_name_check(name)
    if not (models or teams):
        raise InvalidInput.for_field("scope", "Give at least one model or team.")
    user_model = get_user_model()
    with transaction.atomic():
        if user_model.objects.filter(username=name).exists():
            raise Conflict.for_field("name", f"An account named {name!r} already exists.")
        user = user_model(username=name)
        user.set_unusable_password()
        with accounts.recorded_elsewhere():  # ci_account.created below says it
            user.save()
        account = ServiceAccount.objects.create(user=user, description=description)
        audit_record(
            actor=actor,
            action="ci_account.created",
            obj=account,
            payload={
                "name": name,
                "models": [m.name for m in models],
                "teams": [t.slug for t in teams],
            },
        )
        return token_issue(actor=actor, user=user, name=f"{name} token", models=models, teams=teams)


def ci_account_revoke(*, actor: Actor | None, account: ServiceAccount) -> ServiceAccount:
    """Revoke a CI account and all its tokens."""
    with transaction.atomic():
        now = timezone.now()
        ServiceAccount.objects.filter(pk=account.pk).update(revoked_at=now)
        revoked = ApiToken.objects.filter(user=account.user, revoked_at__isnull=True).update(
            revoked_at=now
        )
        audit_record(
            actor=actor,
            action="ci_account.revoked",
            obj=account,
            payload={"name": account.user.username, "tokens_revoked": revoked},
        )
    account.refresh_from_db()
    return account


def team_create(*, actor: Actor | None, slug: str, name: str) -> Team:
    """Create a team; admins only."""
    permissions.require(permissions.can_create_team(actor), "Only admins create teams.")
    if not _PLAIN_START.match(slug):
        raise InvalidInput.for_field("slug", "Start with a letter, digit or underscore.")
    team = Team(slug=slug, name=name)
    validate_instance(team)
    with transaction.atomic():
        team.save()
        audit_record(
            actor=actor, action="team.created", obj=team, payload={"slug": slug, "name": name}
        )
    return team


def user_assign_roles(
    *, actor: Actor | None, user: Actor, roles: list[str], teams: list[Team] | tuple = ()
) -> None:
    """Set a person's roles (groups) and add them to teams; used by admins and the demo."""
    with transaction.atomic():
        groups = list(Group.objects.filter(name__in=roles))
        with accounts.recorded_elsewhere():  # user.roles_assigned below says it all
            user.groups.set(groups)
            for team in teams:
                team.members.add(user)
        audit_record(
            actor=actor,
            action="user.roles_assigned",
            obj=user,
            object_type="auth.user",
            payload={
                "user": user.get_username(),
                "roles": sorted(roles),
                "teams": sorted(t.slug for t in teams),
            },
        )
