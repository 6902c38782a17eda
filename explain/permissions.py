"""Who may run reports: pure predicates, enforced by ``explain.services`` through
``registry.permissions.require`` and asked by the version page before it shows a form."""

from __future__ import annotations

from registry import permissions
from registry.models import ApiToken, ModelVersion
from registry.roles import has_capability
from registry.types import AnyUser

# Roles whose work needs fresh reports: engineers, signers and promoters (not auditors, not CI).
REPORT_CAPABILITIES = ("can_register", "can_sign_off", "can_promote")


def can_request_reports(
    user: AnyUser, version: ModelVersion, token: ApiToken | None = None
) -> bool:
    """People who work on or review the model may (re-)run its reports; CI and auditors not."""
    if permissions.is_service_account(user) or not permissions.can_view_model(
        user, version.model, token
    ):
        return False
    return any(has_capability(user, capability) for capability in REPORT_CAPABILITIES)
