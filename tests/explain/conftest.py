"""Fixtures for the report tests: a recorder in place of the broker, versions, planted data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from explain import queue
from tests.conftest import evaluation_frame


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


def biased_frame(n: int = 600, seed: int = 1) -> pd.DataFrame:
    """Predictions that approve men far more often than women, whatever the labels say."""
    frame = evaluation_frame(n=n, seed=seed)
    rng = np.random.default_rng(seed)
    male = (frame["sex"] == "male").to_numpy()
    frame["approved"] = np.where(male, rng.random(n) < 0.9, rng.random(n) < 0.3).astype(int)
    frame["score"] = np.where(frame["approved"] == 1, 0.75, 0.25)
    return frame


def skops_model_bytes() -> bytes:
    """A small logistic regression on the candidate's features, saved with skops."""
    from sklearn.linear_model import LogisticRegression
    from skops.io import dumps

    frame = evaluation_frame()
    return dumps(LogisticRegression().fit(frame[["income", "debt_ratio"]], frame["repaid"]))
