"""Fixtures for the report tests: a recorder in place of the broker."""

from __future__ import annotations

import pytest

from explain import services, tasks


class SentTasks(list):
    """The report ids handed to the broker, in order, and how many messages it says it holds."""

    broker_holds: int | None = None


@pytest.fixture
def sent(monkeypatch) -> SentTasks:
    """Record what ``run_report`` would publish instead of talking to a broker."""
    calls = SentTasks()

    def apply_async(args=None, kwargs=None, **options):
        calls.append(args[0])

    monkeypatch.setattr(tasks.run_report, "apply_async", apply_async)
    # No broker to count messages in: the sweep falls back to its resend timer unless a test
    # says how many messages the broker holds (``broker_holds``).
    monkeypatch.setattr(services, "_messages_waiting", lambda: calls.broker_holds)
    return calls
