"""Schemathesis against the app in-process: every operation of the published schema, with
generated input, as an ML engineer and as a CI token. No 5xx; every status code and body is
the one the schema declares. Bounded and derandomized, so a run is reproducible."""

from __future__ import annotations

import json

import pytest
import schemathesis
from django.core.cache import cache
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import Client
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from explain import queue
from gatehouse.wsgi import application
from registry import services
from tests.builders import Candidate

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    response_schema_conformance,
    content_type_conformance,
]

FUZZ = settings(
    max_examples=6,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
    # No shrinking: a failure prints its case as a curl command, and the run stays bounded.
    phases=[Phase.explicit, Phase.generate],
)


@pytest.fixture(scope="module")
def api_schema(django_db_setup, django_db_blocker):
    """The schema the app publishes, bound to the app itself (no network)."""
    with django_db_blocker.unblock():
        raw = json.loads(Client().get("/api/schema/?format=json").content)
    loaded = schemathesis.openapi.from_dict(raw)
    loaded.app = application
    return loaded


@pytest.fixture
def world(engineer, model, ci, monkeypatch, settings, request):
    """A registered version on the model, reports that never reach a broker, and the
    in-process host schemathesis calls."""
    settings.ALLOWED_HOSTS = ["*"]
    # As Django's test client does: a request must not close the test's connection (which
    # holds the test transaction on PostgreSQL).
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
        request.addfinalizer(lambda signal=signal: signal.connect(close_old_connections))
    monkeypatch.setattr(queue, "report_publish", lambda report_id: None)
    cache.clear()
    Candidate().register(actor=engineer, model=model)
    engineer_secret = services.token_issue(actor=engineer, user=engineer, name="fuzz").secret
    return {"engineer": engineer_secret, "ci": ci[2]}


def call(case, secret: str) -> None:
    """Aim the case at the model and version that exist, then call and validate it."""
    known = {"name": "credit-default", "version": "1.0.0"}
    if case.path_parameters:
        case.path_parameters = {
            **case.path_parameters,
            **{k: v for k, v in known.items() if k in case.path_parameters},
        }
    # Answers uncompressed: the in-process WSGI call hands schemathesis the raw body, where a
    # real client would undo the gzip (tests/web/test_production_manners.py covers that).
    headers = {"Authorization": f"Bearer {secret}", "Accept-Encoding": "identity"}
    case.call_and_validate(headers=headers, checks=CHECKS)


def fuzz_every_operation(api_schema, secret: str) -> dict[str, str]:
    """Run each operation with generated cases; the failures by operation."""
    failures: dict[str, str] = {}
    for result in api_schema.get_all_operations():
        operation = result.ok()

        @FUZZ
        @given(case=operation.as_strategy())
        def run(case) -> None:
            call(case, secret)

        try:
            run()
        # Each operation's failure is reported, not only the first; schemathesis raises a
        # FailureGroup (a BaseExceptionGroup) whose message has the case as a curl command.
        except (Exception, BaseExceptionGroup) as exc:
            failures[operation.label] = f"{type(exc).__name__}: {exc}"[:3000]
    return failures


# schemathesis's pytest plugin (``parametrize``/``from_fixture``) does not run on pytest 9,
# so each operation is driven through Hypothesis here.


def test_every_operation_as_an_ml_engineer(api_schema, world):
    failures = fuzz_every_operation(api_schema, world["engineer"])

    assert not failures, "\n\n".join(f"{k}\n{v}" for k, v in failures.items())


def test_every_operation_as_a_ci_token(api_schema, world):
    failures = fuzz_every_operation(api_schema, world["ci"])

    assert not failures, "\n\n".join(f"{k}\n{v}" for k, v in failures.items())
