"""Reading the structure of a skops archive with the standard library only.

This is what the inspection child (``registry.sandbox``) imports, so it must stay lean:
no numpy, scikit-learn or skops. It parses the zip directory and ``schema.json`` and checks
what loading would read, returning plain data; the allow-list is applied by the caller.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from typing import Any

ACCEPTED_FORMATS = "Accepted model formats: skops (.skops)"

# Sum of the declared uncompressed sizes, over the archive and over what loading reads;
# guards against zip bombs. Loading needs about this much memory again for the arrays.
MAX_UNCOMPRESSED_BYTES = 1024**3
MAX_SCHEMA_BYTES = 64 * 1024**2
# Distinct types one file may name (a large pipeline names fewer than a hundred).
MAX_TYPES = 1000


class UnsafeModelFile(ValueError):
    """The uploaded model file is not in an accepted format or holds untrusted types."""


def _invalid(reason: object) -> UnsafeModelFile:
    return UnsafeModelFile(f"Not a valid skops file ({reason}). {ACCEPTED_FORMATS}.")


def read_schema(data: bytes) -> dict[str, Any]:
    """The parsed ``schema.json`` of a skops archive, after size and reference checks."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
        if sum(info.file_size for info in infos) > MAX_UNCOMPRESSED_BYTES:
            raise UnsafeModelFile("The skops file is too large once uncompressed.")
        info = archive.getinfo("schema.json")
        if info.file_size > MAX_SCHEMA_BYTES:
            raise UnsafeModelFile("The skops file's schema.json is too large.")
        schema = json.loads(archive.read(info))
    except UnsafeModelFile:
        raise
    except (zipfile.BadZipFile, KeyError, ValueError, RecursionError, EOFError) as exc:
        raise _invalid(exc) from exc
    if not isinstance(schema, dict) or "__class__" not in schema or "protocol" not in schema:
        raise _invalid("bad schema.json")
    check_member_references(schema, {info.filename: info.file_size for info in infos})
    return schema


def _nodes(schema: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every object (dict) anywhere in a skops schema."""
    stack: list[Any] = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            yield node
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def check_member_references(schema: dict[str, Any], sizes: dict[str, int]) -> None:
    """Refuse schemas that would make loading read one member many times, or too much.

    skops reads a node's ``file`` member every time it builds the node, unless the node
    repeats an ``__id__`` it has already built (its memo). skops itself writes a shared
    array once and refers to it again under the same ``__id__``; anything else pointing at
    an already used member is a decompression bomb, so it is refused before any read.
    """
    owner: dict[str, Any] = {}
    total = 0
    for node in _nodes(schema):
        if "__loader__" not in node or "file" not in node:
            continue
        member, node_id = node["file"], node.get("__id__")
        if not isinstance(member, str) or member not in sizes:
            raise _invalid(f"a node refers to a missing member {str(member)[:100]!r}")
        if member in owner:
            if node_id != owner[member] or not _memo_id(node_id):
                raise UnsafeModelFile(
                    f"The skops file refers to its member {member[:100]!r} from more than one "
                    "object; loading would read it again for each one. Refused."
                )
            continue
        owner[member] = node_id
        total += sizes[member]
        if total > MAX_UNCOMPRESSED_BYTES:
            raise UnsafeModelFile("The skops file is too large once uncompressed.")


def _memo_id(value: Any) -> bool:
    """Whether skops's loader memoizes a node by this ``__id__`` (a non-zero integer)."""
    return isinstance(value, int) and not isinstance(value, bool) and value != 0


def walk_types(schema: dict[str, Any]) -> Iterator[str]:
    """Every ``module.Class`` (or function) named anywhere in a skops schema."""
    for node in _nodes(schema):
        if "__class__" in node and "__module__" in node:
            yield f"{node['__module__']}.{node['__class__']}"


def archive_facts(data: bytes) -> dict[str, Any]:
    """The types a skops archive names and its root object, as plain data."""
    schema = read_schema(data)
    types = set(walk_types(schema))
    # The reply crosses into the web process; keep it small whatever the schema holds.
    if len(types) > MAX_TYPES or any(len(name) > 300 for name in types):
        raise UnsafeModelFile("The skops file names too many types, or overlong ones. Refused.")
    return {
        "types": sorted(types),
        "root": f"{schema['__module__']}.{schema['__class__']}",
        "class": str(schema["__class__"]),
    }
