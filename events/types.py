"""Event types: every audit action is one (``registry.audit.actions``), and a subscription
names the ones it wants by pattern: an action, a family of actions by prefix
(``version.*``), or ``*`` for all."""

from __future__ import annotations

from collections.abc import Iterable

from registry.audit.actions import ACTIONS

ALL = "*"


def pattern_problem(pattern: str) -> str | None:
    """Why ``pattern`` names no event type, or None when it names at least one."""
    if not isinstance(pattern, str) or not pattern:
        return "An event type is a non-empty string."
    if pattern == ALL:
        return None
    if pattern.endswith(".*"):
        prefix = pattern[:-1]
        if "*" in prefix or not any(action.key.startswith(prefix) for action in ACTIONS):
            return f"No event type starts with {prefix!r}."
        return None
    if pattern not in ACTIONS:
        return f"Unknown event type {pattern!r}."
    return None


def matches(patterns: Iterable[str], event_type: str) -> bool:
    """Whether ``event_type`` is one of the types ``patterns`` name."""
    for pattern in patterns:
        if pattern in (ALL, event_type):
            return True
        if pattern.endswith(".*") and event_type.startswith(pattern[:-1]):
            return True
    return False
