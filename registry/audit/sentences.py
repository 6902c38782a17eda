"""Audit events as sentences: "oscar (Risk officer) promoted credit-default 1.1.0, replacing
1.0.0", with the model and versions linked.

Built from the declared vocabulary (``actions.ACTIONS``) and the event's own fields; the words
are plain text (the template escapes them: a payload is data, never HTML). An action without a
phrase below reads as its description, followed by the object it is about.
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass
from typing import Any

from django.urls import NoReverseMatch, reverse

from ..models import AuditEvent
from ..roles import role_label
from .actions import ACTIONS, SIGNOFF


@dataclass(frozen=True)
class Part:
    """A piece of a sentence: words, linked when ``url`` is set."""

    text: str
    url: str = ""


# What the actor did, before the object (``{kind}`` is the report kind from the payload).
PHRASES: dict[str, str] = {
    "model.created": "registered",
    "model.updated": "changed the settings of",
    "objective.created": "added a business objective to",
    "version.registered": "registered",
    "version.approved": "approved",
    "version.rejected": "rejected",
    "version.archived": "archived",
    "version.promoted": "promoted",
    "version.rolled_back": "rolled back to",
    "review.requested": "requested a review of",
    "review.rerequested": "requested a review again of",
    "objection.opened": "opened an objection on",
    "objection.resolved": "resolved an objection on",
    "comment.posted": "commented on",
    "signoff.failed": "failed to sign off",
    "policy.created": "created the review policy of",
    "policy.changed": "changed the review policy of",
    "report.queued": "requested a {kind} report on",
    "report.requeued": "queued again a {kind} report on",
    "report.completed": "finished a {kind} report on",
    "report.failed": "saw a {kind} report fail on",
    "bundle.exported": "exported the audit bundle of",
}
PHRASES.update({key: "signed off" for key in (a.key for a in SIGNOFF.actions())})


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _url(name: str, *args: str) -> str:
    try:
        return reverse(name, args=args)
    except NoReverseMatch:  # a name or version the URL patterns do not take
        return ""


def _version(model: str, version: str, linkable: Container[str]) -> Part:
    linked = model in linkable
    return Part(version, _url("version-detail", model, version) if linked else "")


def _object(event: AuditEvent, payload: dict[str, Any], linkable: Container[str]) -> list[Part]:
    """The model (and version) the event is about, linked when the viewer may see the model."""
    model = event.model_name
    if not model:
        return []
    model_url = _url("model-detail", model) if model in linkable else ""
    version = _text(payload.get("version"))
    if not version:
        return [Part(model, model_url)]
    return [Part(model, model_url), Part(" "), _version(model, version, linkable)]


def _actor(event: AuditEvent, payload: dict[str, Any]) -> Part:
    role = _text(payload.get("role"))
    return Part(f"{event.actor_name} ({role_label(role)})" if role else event.actor_name)


def _verified(payload: dict[str, Any]) -> list[Part]:
    checked, last = payload.get("checked"), payload.get("last_seq")
    brk = payload.get("break")
    if payload.get("ok") is True:
        return [Part(f" verified the chain: {checked} events intact up to #{last}")]
    seq = brk.get("seq") if isinstance(brk, dict) else "?"
    return [Part(f" found the chain broken at event #{seq}, {checked} events before it intact")]


def _tail(event: AuditEvent, payload: dict[str, Any], linkable: Container[str]) -> list[Part]:
    """What follows the object: the version replaced, the sign-off's meaning, the digest."""
    action = event.action
    if action in ("version.promoted", "version.rolled_back"):
        replaced = _text(payload.get("replaced"))
        if replaced:
            return [Part(", replacing "), _version(event.model_name, replaced, linkable)]
    elif getattr(ACTIONS.get(action), "family", "") == SIGNOFF.name:
        words = SIGNOFF.members.get(_text(payload.get("decision")), "")
        return [Part(f": {words}")] if words else []
    elif action == "bundle.exported":
        digest = _text(payload.get("manifest_sha256"))
        return [Part(f" (manifest sha256 {digest[:16]}…)")] if digest else []
    return []


def event_sentence(event: AuditEvent, linkable: Container[str]) -> list[Part]:
    """The event as a sentence; ``linkable`` holds the names of the models the viewer may see."""
    payload = event.payload if isinstance(event.payload, dict) else {}
    actor = _actor(event, payload)
    if event.action == "audit.verified":
        return [actor, *_verified(payload)]
    phrase = PHRASES.get(event.action)
    obj = _object(event, payload, linkable)
    if phrase is None or not obj:
        action = ACTIONS.get(event.action)
        description = action.description if action else event.action
        return [actor, Part(f": {description}"), *([Part(" — "), *obj] if obj else [])]
    kind = _text(payload.get("kind"))
    words = phrase.format(kind=kind) if kind else phrase.replace(" {kind}", "")
    return [actor, Part(f" {words} "), *obj, *_tail(event, payload, linkable)]
