"""The chain walk's orjson path writes byte for byte what ``canonical_json`` writes, or steps
aside: over many generated values (every escape and control character, non-ASCII and astral
text, key orders, integers of every size, floats of every magnitude, nesting) and the ways a
database spells them, ``_fast_payload`` is either None or ``canonical_json`` of what the json
module reads; where the json module refuses the text, orjson's path refuses it too; and a row
whose stored text orjson would read as another value is still a break."""

from __future__ import annotations

import json
import math
import random
import struct
from typing import Any

import pytest

from registry.audit import chain
from registry.audit.chain import GENESIS_HASH, _fast_payload, canonical_json, event_hash

SEED = 20261130
ROUNDS = 4000

# Text that tends to differ between encoders: every C0 control, the characters JSON escapes,
# DEL, non-ASCII, the line and paragraph separators, a BOM, private use, astral characters
# (surrogate pairs in UTF-16), and text that looks like a number, an exponent or an escape.
SPECIAL_TEXT = [
    *(chr(code) for code in range(0x20)),
    '"',
    "\\",
    "/",
    "\x7f",
    "\x80",
    "\xa0",
    "é",
    "ß",
    "☃",
    "\u2028",
    "\u2029",
    "\ufeff",
    "\ue000",
    "\uffff",
    "😀",
    "\U0010ffff",
    "𝄞",
    "1e-5",
    "e+",
    "0.0000",
    "\\u0041",
    "Ré-entraîné",
]
KEYS = ["a", "b", "A", "", "é", "\ue000", "😀", "\uffff", "a\x00", "10", "2", "e-", "Z", "aa"]


def random_text(rng: random.Random) -> str:
    parts = []
    for _ in range(rng.randrange(0, 6)):
        roll = rng.random()
        if roll < 0.4:
            parts.append(rng.choice(SPECIAL_TEXT))
        elif roll < 0.7:
            parts.append("".join(chr(rng.randrange(0x20, 0x7F)) for _ in range(rng.randrange(8))))
        elif roll < 0.9:  # anywhere in the BMP but the surrogates
            code = (
                rng.randrange(0x80, 0xD800)
                if rng.random() < 0.7
                else rng.randrange(0xE000, 0x10000)
            )
            parts.append(chr(code))
        else:
            parts.append(chr(rng.randrange(0x10000, 0x110000)))
    return "".join(parts)


def random_float(rng: random.Random) -> float:
    roll = rng.random()
    if roll < 0.3:  # any finite double, subnormals included
        while True:
            value = struct.unpack("<d", struct.pack("<Q", rng.getrandbits(64)))[0]
            if math.isfinite(value):
                return value
    if roll < 0.6:  # around each power of ten, where the written form changes
        exponent = rng.randrange(-324, 309)
        value = rng.choice([1.0, 1.5, 9.999999999999999, 5.0, 2.5]) * 10.0**exponent
        return value if math.isfinite(value) else 1.0
    if roll < 0.8:
        return rng.choice([0.0, -0.0, 1.0, -1.0, 0.5, 0.1, 1e-4, 1e-5, 1e15, 1e16, 1e22, 5e-324])
    return rng.uniform(-1e6, 1e6)


def random_int(rng: random.Random) -> int:
    bits = rng.choice([3, 31, 52, 53, 54, 62, 63, 64, 65, 100, 300])
    value = rng.getrandbits(bits) + rng.choice([-1, 0, 1])
    return value if rng.random() < 0.5 else -value


def random_value(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if depth < 4 and roll < 0.3:
        return {
            rng.choice(KEYS) if rng.random() < 0.5 else random_text(rng): random_value(
                rng, depth + 1
            )
            for _ in range(rng.randrange(0, 6))
        }
    if depth < 4 and roll < 0.45:
        return [random_value(rng, depth + 1) for _ in range(rng.randrange(0, 5))]
    if roll < 0.65:
        return random_text(rng)
    if roll < 0.8:
        return random_int(rng)
    if roll < 0.9:
        return random_float(rng)
    return rng.choice([True, False, None])


def spellings(value: Any) -> list[str]:
    """The value as SQLite's JSONField stores it, as PostgreSQL's jsonb prints it (spaces
    after separators), unescaped, and indented."""
    return [
        json.dumps(value),
        json.dumps(value, ensure_ascii=False),
        json.dumps(value, separators=(", ", ": "), sort_keys=True),
        json.dumps(value, indent=1),
    ]


def test_orjson_writes_what_canonical_json_writes_or_steps_aside():
    rng = random.Random(SEED)
    fast = 0
    for _ in range(ROUNDS):
        value = random_value(rng)
        for text in spellings(value):
            expected = canonical_json(json.loads(text)).encode("utf-8")
            written = _fast_payload(text)
            if written is not None:
                fast += 1
                assert written == expected, text
    # Most generated values have no float written with an exponent: orjson wrote them.
    assert fast > ROUNDS


@pytest.mark.parametrize(
    "value",
    [
        {"n": 1e-7},
        {"n": 1.5e-5},
        {"n": -6.4e-5},
        {"n": 1e16},
        {"n": [1e300, 2**64]},
        {"big": 2**64},
        {"big": -(2**63) - 1},
        {"big": 10**40},
    ],
)
def test_values_orjson_writes_differently_take_the_json_modules_path(value):
    assert _fast_payload(json.dumps(value)) is None


@pytest.mark.parametrize(
    "value",
    [
        {"i": 2**64 - 1, "j": -(2**63), "k": 2**63},
        {"f": [0.0, -0.0, 1.0, 0.0001, 123456789.123, 1e15, 9999999999999998.0]},
        {"t": "".join(chr(code) for code in range(0x20)) + '"\\\x7f\u2028😀'},
        {"\ue000": 1, "😀": 2, "\uffff": 3, "é": 4, "e": 5, "": 6},
        {"deep": [[[[{"a": [None, True, False]}]]]]},
    ],
)
def test_integers_floats_escapes_and_key_order_orjson_writes_alike(value):
    text = json.dumps(value)
    assert _fast_payload(text) == canonical_json(value).encode("utf-8")


def mutations(rng: random.Random, text: str) -> list[str]:
    """Damaged copies of ``text``: a character dropped, doubled or replaced by one JSON
    cares about."""
    out = []
    for _ in range(6):
        at = rng.randrange(len(text) + 1)
        piece = rng.choice(
            ['"', "\\", ",", ":", "{", "}", "[", "]", "e", "-", ".", "0", "\x00", "\n"]
        )
        out.append(text[:at] + piece + text[at:])
        out.append(text[:at] + text[at + 1 :])
    return out


def test_text_the_json_module_refuses_orjson_refuses_too():
    rng = random.Random(SEED + 1)
    texts = [
        "NaN",
        "[Infinity]",
        "[-Infinity]",
        "[1e400]",
        '"\\ud800"',
        '["\\udc00\\ud800"]',
        '"a\nb"',
        "[1,]",
        "01",
        "[1] x",
        "",
    ]
    for _ in range(1500):
        texts.extend(mutations(rng, json.dumps(random_value(rng))))
    refused = 0
    for text in texts:
        try:
            expected = canonical_json(json.loads(text)).encode("utf-8")
        except ValueError:  # not JSON, NaN, infinity, a lone surrogate
            refused += 1
            assert _fast_payload(text) is None, text
            continue
        written = _fast_payload(text)
        assert written is None or written == expected, text
    assert refused > 1000


def body_fields(rng: random.Random, seq: int, prev_hash: str) -> dict[str, Any]:
    return {
        "seq": seq,
        "created_at": "2026-11-30T04:00:00.123456Z",
        "actor": random_text(rng),
        "action": random_text(rng),
        "object_type": random_text(rng),
        "object_id": random_text(rng),
        "model": random_text(rng),
        "payload": {"v": random_value(rng)},
        "prev_hash": prev_hash,
    }


def as_row(content: dict[str, Any], payload_text: str, digest: str) -> tuple:
    return (
        content["seq"],
        content["created_at"],
        content["actor"],
        content["action"],
        content["object_type"],
        content["object_id"],
        content["model"],
        payload_text,
        content["prev_hash"],
        digest,
    )


def test_the_walk_hashes_every_field_as_event_hash_does():
    """Random text in every hashed field and random payloads: each row the walk checks
    hashes as the offline rule hashes it."""
    rng = random.Random(SEED + 2)
    rows, prev = [], GENESIS_HASH
    for seq in range(1, 1501):
        content = body_fields(rng, seq, prev)
        digest = event_hash(content)
        rows.append(as_row(content, json.dumps(content["payload"]), digest))
        prev = digest
    report = chain._walk([rows], 0, GENESIS_HASH, sqlite=False)
    assert report.ok, report.first_break
    assert report.checked == 1500


@pytest.mark.parametrize(
    ("hashed", "stored"),
    [
        # orjson reads an integer beyond 64 bits as the float the first event hashed.
        ({"n": 1.2345678901234568e29}, '{"n": 123456789012345678901234567890}'),
        ({"n": -9.223372036854776e18}, '{"n": -9223372036854775809}'),
        # orjson refuses 1e400; the json module reads infinity, which was never hashed.
        ({"n": None}, '{"n": 1e400}'),
        # orjson would read the bytes of a BLOB; the stored payload must be text.
        ({"n": 1}, b'{"n": 1}'),
    ],
)
def test_stored_text_orjson_would_misread_is_a_break(hashed, stored):
    content = body_fields(random.Random(SEED), 1, GENESIS_HASH)
    content["payload"] = hashed
    digest = event_hash(content)
    report = chain._walk([[as_row(content, stored, digest)]], 0, GENESIS_HASH, sqlite=False)
    assert not report.ok
    assert report.first_break is not None
    assert "altered" in report.first_break.reason
    # The same row stored as the canonical text verifies.
    row = as_row(content, json.dumps(hashed), digest)
    assert chain._walk([[row]], 0, GENESIS_HASH, sqlite=False).ok


def test_a_payload_written_with_an_exponent_still_verifies():
    """The json module's path: small floats and integers beyond 64 bits."""
    content = body_fields(random.Random(SEED), 1, GENESIS_HASH)
    content["payload"] = {"small": [1e-7, 2.5e-5], "big": 2**70, "text": "re-trained"}
    digest = event_hash(content)
    assert _fast_payload(json.dumps(content["payload"])) is None
    row = as_row(content, json.dumps(content["payload"]), digest)
    assert chain._walk([[row]], 0, GENESIS_HASH, sqlite=False).ok
