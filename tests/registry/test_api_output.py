"""The version output written directly is the output DRF's generic serializer writes."""

from __future__ import annotations

from rest_framework import serializers

from registry.api.serializers import VersionOutput
from registry.selectors import version_for_user
from tests.builders import Candidate, skops_model_bytes


def _generic(version) -> dict:
    """What ``ModelSerializer.to_representation`` makes of the declared fields."""
    return serializers.ModelSerializer.to_representation(VersionOutput(), version)


def test_the_version_output_is_the_generic_one_in_the_same_order(engineer, model):
    Candidate(model_bytes=skops_model_bytes()).register(actor=engineer, model=model)
    Candidate(version="2.0.0").register(actor=engineer, model=model)

    for name in ("1.0.0", "2.0.0"):
        version = version_for_user(engineer, model.name, name)
        direct = VersionOutput(version).data
        assert list(direct) == list(VersionOutput.Meta.fields)
        assert direct == _generic(version)
    with_file = VersionOutput(version_for_user(engineer, model.name, "1.0.0")).data
    assert with_file["model_file"]["format"] == "skops"
    assert VersionOutput(version_for_user(engineer, model.name, "2.0.0")).data["model_file"] is None


def test_a_list_of_versions_uses_the_same_output(engineer, model):
    Candidate().register(actor=engineer, model=model)
    versions = list(model.versions.select_related("model", "submitted_by", "evaluation_data"))

    assert VersionOutput(versions, many=True).data == [_generic(v) for v in versions]
