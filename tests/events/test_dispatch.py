"""The dispatcher reads the audit chain after its cursor: every event once, in order, from
where the chain stood when events were installed."""

from __future__ import annotations

import pytest

from events import dispatch, types
from events.models import Cursor
from registry.audit.actions import ACTIONS
from tests.builders import record

ACTION = "model.updated"  # any declared action


@pytest.fixture
def fanned(monkeypatch) -> list[list[int]]:
    """The seqs each dispatch hands to the webhook fan-out."""
    seen: list[list[int]] = []
    monkeypatch.setattr(
        dispatch.webhooks, "fan_out", lambda events: seen.append([e.seq for e in events])
    )
    return seen


def test_each_event_is_read_once_in_order(db, fanned):
    start = Cursor.objects.get(name=dispatch.CURSOR).seq
    first = record(3, action=ACTION)

    assert dispatch.dispatch(batch=2) == 2
    assert dispatch.dispatch(batch=2) == 1
    assert dispatch.dispatch() == 0
    record(1, action=ACTION)
    assert dispatch.dispatch() == 1

    seqs = [seq for batch in fanned for seq in batch]
    assert seqs == list(range(start + 1, start + 5))
    assert seqs[0] == first[0].seq
    assert Cursor.objects.get(name=dispatch.CURSOR).seq == seqs[-1]


def test_a_failed_fan_out_moves_nothing(db, monkeypatch):
    record(2, action=ACTION)
    before = Cursor.objects.get(name=dispatch.CURSOR).seq

    def broken(events):
        raise RuntimeError("fan-out failed")

    monkeypatch.setattr(dispatch.notifications, "fan_out", broken)
    with pytest.raises(RuntimeError):
        dispatch.dispatch()

    assert Cursor.objects.get(name=dispatch.CURSOR).seq == before


def test_a_missing_cursor_starts_at_the_head(db, fanned):
    record(2, action=ACTION)
    Cursor.objects.all().delete()

    assert dispatch.dispatch() == 0
    record(1, action=ACTION)
    assert dispatch.dispatch() == 1


@pytest.mark.parametrize(
    ("pattern", "problem"),
    [
        ("version.promoted", None),
        ("version.*", None),
        ("*", None),
        ("version.promotd", "Unknown event type 'version.promotd'."),
        ("nothing.*", "No event type starts with 'nothing.'."),
        ("ver*.x", "Unknown event type 'ver*.x'."),
        ("", "An event type is a non-empty string."),
    ],
)
def test_event_type_patterns_name_declared_actions(pattern, problem):
    assert types.pattern_problem(pattern) == problem


def test_patterns_match_by_action_or_prefix():
    assert types.matches(["version.*"], "version.promoted")
    assert not types.matches(["version.*"], "versions.x")
    assert types.matches(["*"], "report.completed")
    assert types.matches(["report.completed", "signoff.*"], "signoff.approved")
    assert not types.matches([], "report.completed")
    assert all(types.pattern_problem(action.key) is None for action in ACTIONS)
