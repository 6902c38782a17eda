"""Fixtures for the report tests: a recorder in place of the broker."""

from __future__ import annotations

import pytest

from explain import queue


class SentTasks(list):
    """The report ids handed to the broker, in order, and how many messages it says it holds."""

    broker_holds: int | None = None


@pytest.fixture
def sent(monkeypatch) -> SentTasks:
    """Record what ``run_report`` would publish instead of talking to a broker."""
    calls = SentTasks()
    monkeypatch.setattr(queue, "report_publish", calls.append)
    # No broker to count messages in: the sweep falls back to its resend timer unless a test
    # says how many messages the broker holds (``broker_holds``).
    monkeypatch.setattr(queue, "messages_waiting", lambda: calls.broker_holds)
    return calls
