"""Crafted skops files for the model-file tests: valid archives with a doctored schema."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import skops.io as sio
from sklearn.linear_model import LogisticRegression


def skops_with_schema(data, change) -> bytes:
    """A logistic regression saved with skops, its schema changed and members added."""
    X, y = data
    source = zipfile.ZipFile(io.BytesIO(sio.dumps(LogisticRegression().fit(X, y))))
    schema = json.loads(source.read("schema.json"))
    extra = change(schema["content"]["content"])
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name in source.namelist():
            if name != "schema.json":
                archive.writestr(name, source.read(name))
        for name, content in extra.items():
            archive.writestr(name, content)
        archive.writestr("schema.json", json.dumps(schema))
    return out.getvalue()


def skops_bomb(data, *, references: int, member_mb: int, ids=lambda i: 1000 + i) -> bytes:
    """A small skops file whose schema points many arrays at one zipped ``.npy`` member."""
    member = io.BytesIO()
    np.save(member, np.zeros(member_mb * 131_072))

    def change(attributes):
        nodes = [
            {
                "__class__": "ndarray",
                "__module__": "numpy",
                "__loader__": "NdArrayNode",
                "type": "numpy",
                "file": "bomb.npy",
                **({"__id__": ids(i)} if ids(i) is not None else {}),
            }
            for i in range(references)
        ]
        attributes["bomb_"] = {
            "__class__": "list",
            "__module__": "builtins",
            "__loader__": "ListNode",
            "content": nodes,
            "__id__": 999,
        }
        return {"bomb.npy": member.getvalue()}

    return skops_with_schema(data, change)
