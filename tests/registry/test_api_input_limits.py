"""Hostile JSON: nesting too deep for the parser, free-form fields too big for their pages,
form fields over Django's in-memory limit. Each is a JSON 4xx naming the field, nothing stored."""

from __future__ import annotations

import json

import pytest

from explain import queue
from explain.models import Report
from registry.api.parsers import MAX_JSON_DEPTH, too_deep_at
from registry.api.serializers import MAX_FIELD_BYTES, MAX_METADATA_BYTES
from registry.models import AuditEvent, ModelVersion
from tests.builders import Candidate, client_for, post_version

REPORTS = "/api/v1/models/credit-default/versions/1.0.0/reports/"


def nested(depth: int) -> str:
    """A JSON array nested ``depth`` levels deep."""
    return "[" * depth + "]" * depth


def nothing_registered() -> bool:
    return (
        not ModelVersion.objects.exists()
        and not AuditEvent.objects.filter(action="version.registered").exists()
    )


class RawMetadata(Candidate):
    """A candidate whose metadata part is sent as the given text."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def multipart(self):
        return {**super().multipart(), "metadata": self.text}


def with_raw_params(raw: str) -> RawMetadata:
    body = json.dumps({**Candidate().metadata(), "params": "__PARAMS__"})
    return RawMetadata(body.replace('"__PARAMS__"', raw))


@pytest.fixture
def sent(monkeypatch) -> list:
    """Keep report tasks off the broker."""
    calls: list = []
    monkeypatch.setattr(queue, "report_publish", calls.append)
    return calls


@pytest.fixture
def version(engineer, model, sent):
    return Candidate().register(actor=engineer, model=model).version


# --- nesting -------------------------------------------------------------------------------


def test_params_nested_past_the_recursion_limit_are_a_400_naming_the_field(ci_client, model):
    response = post_version(
        ci_client, model.name, with_raw_params('{"a": ' + nested(100_000) + "}")
    )

    assert response.status_code == 400, response.content[:200]
    body = response.json()
    assert body["code"] == "invalid"
    assert body["errors"] == {"metadata.params": [f"Nested deeper than {MAX_JSON_DEPTH} levels."]}
    assert nothing_registered()


def test_nesting_just_over_the_limit_is_refused_and_at_the_limit_accepted(ci_client, model):
    # The params object is level 2 of the metadata document, so a list inside it starts at 3.
    over = post_version(
        ci_client, model.name, with_raw_params('{"x": ' + nested(MAX_JSON_DEPTH - 1) + "}")
    )
    assert over.status_code == 400
    assert list(over.json()["errors"]) == ["metadata.params"]
    assert nothing_registered()

    within = post_version(
        ci_client, model.name, with_raw_params('{"x": ' + nested(MAX_JSON_DEPTH - 2) + "}")
    )
    assert within.status_code == 201, within.json()


def test_report_params_nested_too_deep_are_a_400_naming_params(version, engineer):
    before = Report.objects.count()
    body = '{"kind": "fairness", "params": {"a": ' + nested(100_000) + "}}"

    response = client_for(engineer).post(REPORTS, body, content_type="application/json")

    assert response.status_code == 400
    assert response.json()["errors"] == {"params": [f"Nested deeper than {MAX_JSON_DEPTH} levels."]}
    assert Report.objects.count() == before


def test_brackets_inside_strings_do_not_count_as_nesting():
    text = json.dumps({"note": "[" * 100, "deep": {"x": "{" * 50}})

    assert too_deep_at(text) is None
    assert too_deep_at('{"a": 1, "b\\"q": ' + nested(30) + "}") == 'b\\"q'
    assert too_deep_at(nested(30)) == ""


# --- size of free-form fields --------------------------------------------------------------


@pytest.mark.parametrize("field", ["params", "tags", "metrics"])
def test_free_form_fields_over_their_byte_limit_are_refused(ci_client, model, field):
    limit = MAX_FIELD_BYTES[field]
    value = 0.5 if field == "metrics" else "x" * 100
    entry = len(json.dumps({"key-000000": value}, separators=(",", ":"))) - 1  # with a comma
    big = {f"key-{i:06d}": value for i in range(limit // entry + 1)}
    candidate = Candidate(overrides={field: big})

    response = post_version(ci_client, model.name, candidate)

    assert response.status_code == 400, response.json()
    [message] = response.json()["errors"][f"metadata.{field}"]
    assert f"At most {limit} bytes" in message
    assert nothing_registered()


def test_a_nine_megabyte_params_is_refused_before_parsing(ci_client, model):
    candidate = Candidate(overrides={"params": {"blob": "x" * (9 * 1024 * 1024)}})

    response = post_version(ci_client, model.name, candidate)

    assert response.status_code == 400
    assert response.json()["errors"] == {"metadata": [f"At most {MAX_METADATA_BYTES} bytes."]}
    assert nothing_registered()


def test_report_params_over_the_limit_are_refused(version, engineer):
    before = Report.objects.count()
    params = {"blob": "x" * MAX_FIELD_BYTES["params"]}

    response = client_for(engineer).post(
        REPORTS, {"kind": "fairness", "params": params}, format="json"
    )

    assert response.status_code == 400
    [message] = response.json()["errors"]["params"]
    assert message.startswith(f"At most {MAX_FIELD_BYTES['params']} bytes")
    assert Report.objects.count() == before


# --- Django's in-memory limit --------------------------------------------------------------


def test_a_form_field_over_the_memory_limit_is_a_json_413_naming_it(ci_client, model, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2048
    candidate = RawMetadata(json.dumps({**Candidate().metadata(), "notes": "x" * 4096}))

    response = post_version(ci_client, model.name, candidate)

    assert response.status_code == 413
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["code"] == "too_large"
    assert list(body["errors"]) == ["metadata"]
    assert "2048 bytes" in body["errors"]["metadata"][0]
    assert nothing_registered()


def test_a_json_body_over_the_memory_limit_is_a_json_413(version, engineer, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2048
    before = Report.objects.count()

    response = client_for(engineer).post(
        REPORTS, {"kind": "fairness", "params": {"blob": "x" * 4096}}, format="json"
    )

    assert response.status_code == 413
    assert response.json()["code"] == "too_large"
    assert Report.objects.count() == before
