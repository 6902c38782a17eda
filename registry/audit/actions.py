"""Every audit action declared once, with what it means.

``audit_record`` refuses an action that is not declared here, and the audit page offers these
as its action filter (with the descriptions as labels), so a new action is one entry below.
The keys are written to the hash chain as they are: never rename one that has been recorded
(old events and bundles hash with the old text); declare a new one instead.

Actions built from a value (``f"signoff.{decision}"``) are declared as a family with its
members listed here: ``registry`` cannot import ``reviews`` or ``explain``, so a test checks
each family's members against the choices they come from.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Action:
    """One thing the audit log records: its key on the chain and what it means."""

    key: str
    description: str
    family: str = ""  # the name of its family, for a member of one


@dataclass(frozen=True)
class Family:
    """Actions built from a value: ``pattern`` with ``{}`` filled by each member."""

    name: str
    pattern: str
    description: str  # ``{}`` is filled by the member's words
    members: Mapping[str, str]  # member -> its words in the description

    def actions(self) -> list[Action]:
        return [
            Action(self.pattern.format(member), self.description.format(words), self.name)
            for member, words in self.members.items()
        ]


class Vocabulary:
    """The declared actions, by key (in the spirit of Sentry's ``audit_log`` registry)."""

    def __init__(self) -> None:
        self._actions: dict[str, Action] = {}
        self.families: dict[str, Family] = {}

    def add(self, key: str, description: str, *, family: str = "") -> Action:
        """Declare one action; a key is declared once."""
        if key in self._actions:
            raise ValueError(f"audit action {key!r} is already declared")
        if not key or key != key.strip() or len(key) > 100:
            raise ValueError(f"{key!r} is not a valid audit action key")
        action = self._actions[key] = Action(key, description, family)
        return action

    def add_family(self, family: Family) -> Family:
        """Declare every member of a family of actions."""
        if family.name in self.families:
            raise ValueError(f"audit action family {family.name!r} is already declared")
        for action in family.actions():
            self.add(action.key, action.description, family=family.name)
        self.families[family.name] = family
        return family

    def remove(self, key: str) -> None:
        """Forget an action declared with ``add`` (tests that declare their own)."""
        del self._actions[key]

    def check(self, key: str) -> None:
        """Refuse an undeclared action before anything is written."""
        if key not in self._actions:
            raise ValueError(
                f"undeclared audit action {key!r}: declare it in registry/audit/actions.py"
            )

    def get(self, key: str) -> Action | None:
        return self._actions.get(key)

    def __contains__(self, key: object) -> bool:
        return key in self._actions

    def __iter__(self) -> Iterator[Action]:
        return iter(sorted(self._actions.values(), key=lambda action: action.key))

    def __len__(self) -> int:
        return len(self._actions)

    def choices(self) -> list[tuple[str, str]]:
        """``(key, description)`` for every action, by key: the audit page's filter."""
        return [(action.key, action.description) for action in self]


ACTIONS = Vocabulary()
_add = ACTIONS.add

# --- accounts, roles and sign-in (registry.accounts, registry.services) -----------------------
_add("auth.login_failed", "A password check failed (web, admin or token sign-in)")
_add("auth.locked_out", "A password check was refused: the account is locked out")
_add("user.created", "A user account was created")
_add("user.privileges_changed", "A user's active, staff or superuser flag changed")
_add("user.password_changed", "A user's password was changed")
_add("user.deleted", "A user account was deleted")
_add("user.roles_assigned", "A user's roles and teams were set")
_add("user.groups_changed", "Users were added to or removed from groups")
_add("user.permissions_changed", "Permissions were granted to or taken from users")
_add("group.created", "A group was created")
_add("group.changed", "A group was renamed or changed")
_add("group.deleted", "A group was deleted")
_add("group.permissions_changed", "Permissions were granted to or taken from groups")
_add("team.created", "A team was created")
_add("team.members_changed", "People joined or left a team")
_add("token.issued", "A CI token was issued")
_add("token.revoked", "A CI token was revoked")
_add("ci_account.created", "A CI service account was created")
_add("ci_account.revoked", "A CI service account was revoked")

# --- models and versions (registry.services) -------------------------------------------------
_add("model.created", "A model was registered")
_add("model.updated", "A model's description or settings changed")
_add("objective.created", "A business objective was added to a model")
_add("version.registered", "A candidate version was registered")

# --- reports (explain.services) --------------------------------------------------------------
_add("report.queued", "A report was requested")
_add("report.requeued", "A report whose worker was lost was queued again")
_add("report.completed", "A report finished")
_add("report.failed", "A report failed")

# --- reviews, sign-offs and production (reviews.services, reviews.bundles) --------------------
_add("policy.created", "A review policy was created")
_add("policy.changed", "A review policy changed")
_add("review.requested", "A review of a version was requested")
_add("review.rerequested", "A review was requested again after an objection")
_add("objection.opened", "A rejection or request for changes became an open objection")
_add("objection.resolved", "An objection was resolved")
_add("comment.posted", "A comment was posted in a version's review conversation")
_add("signoff.failed", "A sign-off was refused: the password was wrong or the account locked")
_add("bundle.exported", "A version's audit bundle was exported")

# The families: each built by one f-string at its call site, with its members listed here.
# A test checks each list against the choices the value comes from (which registry cannot
# import) and walks the call sites.

# reviews.services._set_status(..., actor=...): the statuses a person moves a version to
# (registry.models.VersionStatus).
VERSION_STATUS = ACTIONS.add_family(
    Family(
        "version status",
        "version.{}",
        "A version was {}",
        {"approved": "approved", "rejected": "rejected", "archived": "archived"},
    )
)
# reviews.services: promotion and rollback (reviews.models.ProductionEvent.Action).
PRODUCTION = ACTIONS.add_family(
    Family(
        "production",
        "version.{}",
        "A version was {}",
        {"promoted": "promoted to production", "rolled_back": "rolled back to in production"},
    )
)
# reviews.services.signoff_record (reviews.models.Decision).
SIGNOFF = ACTIONS.add_family(
    Family(
        "sign-off",
        "signoff.{}",
        "A reviewer signed off: {}",
        {
            "approved": "approved",
            "rejected": "rejected",
            "changes_requested": "changes requested",
            "fairness_override": "fairness override (inconclusive verdict accepted)",
        },
    )
)
# registry.admin.AuditedAdmin: each model edited in the Django admin (its model_name), added,
# changed or deleted (explain's FairnessPolicy included).
ADMIN_MODELS = {
    "user": "a user",
    "group": "a group",
    "team": "a team",
    "objective": "an objective",
    "registeredmodel": "a model",
    "fairnesspolicy": "a fairness policy",
}
ADMIN = ACTIONS.add_family(
    Family(
        "admin",
        "admin.{}",
        "An admin {}",
        {
            f"{model}.{change}": f"{change} {words} in the Django admin"
            for model, words in ADMIN_MODELS.items()
            for change in ("added", "changed", "deleted")
        },
    )
)

# --- webhooks (events.services) -------------------------------------------------------------
_add("webhook.created", "A webhook subscription was created")
_add("webhook.changed", "A webhook subscription's URL, event types or description changed")
_add("webhook.deleted", "A webhook subscription was deleted")
_add("webhook.secret_rotated", "A webhook subscription's signing secret was rotated")
_add("webhook.enabled", "A webhook subscription was enabled again")
_add(
    "webhook.disabled",
    "A webhook subscription was disabled (410 Gone, failing for days, or by hand)",
)
_add("webhook.redelivered", "Webhook deliveries were queued to be sent again")
_add("webhook.tested", "A test event was sent to a webhook subscription")

# --- the audit trail itself (registry.audit.services) ----------------------------------------
_add("audit.exported", "The audit trail was exported (CSV or JSONL)")
_add("audit.verified", "The whole chain was verified")
