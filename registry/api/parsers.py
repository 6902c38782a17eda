"""Request parsers that turn every malformed or oversized body into the API's JSON 4xx.

DRF's own parsers let two things through as a 500 or an HTML page: JSON nested deeper than
Python's recursion limit (``RecursionError`` from ``json.loads``), and Django's
``RequestDataTooBig`` (a form field over ``DATA_UPLOAD_MAX_MEMORY_SIZE``).
"""

from __future__ import annotations

import json
import re
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from rest_framework import parsers, renderers
from rest_framework.exceptions import ParseError
from rest_framework.settings import api_settings
from rest_framework.utils import json as drf_json

from ..errors import InvalidInput, TooLarge

# Deepest nesting of objects and arrays in any JSON document the API reads (the request body
# or the registration's ``metadata`` part); the documents it defines need 6 levels.
MAX_JSON_DEPTH = 20

# The next quote or bracket, and the rest of a string after its opening quote (escapes
# included). Each string is matched once from its start, so a scan is linear in the text.
_NEXT = re.compile(r'["\[\]{}]')
_STRING_REST = re.compile(r'[^"\\]*(?:\\.[^"\\]*)*"')
_COLON = re.compile(r"\s*:")


def too_deep_at(text: str, limit: int = MAX_JSON_DEPTH) -> str | None:
    """The top-level key under which ``text`` nests deeper than ``limit`` ("" when the
    document itself does), or None when it stays within the limit.

    Linear: each string is matched once, and an unterminated one ends the scan."""
    depth = 0
    key = ""
    pos = 0
    while match := _NEXT.search(text, pos):
        char, pos = match.group(), match.end()
        if char == '"':
            rest = _STRING_REST.match(text, pos)
            if rest is None:
                return None  # unterminated: json.loads refuses it at this depth
            if depth == 1 and _COLON.match(text, rest.end()):
                key = text[pos : rest.end() - 1]
            pos = rest.end()
        elif char in "[{":
            depth += 1
            if depth > limit:
                return key
        else:
            depth -= 1
    return None


class TooDeep(ValueError):
    """A JSON document nested deeper than ``MAX_JSON_DEPTH``; ``key`` is the top-level key."""

    def __init__(self, key: str) -> None:
        super().__init__(f"Nested deeper than {MAX_JSON_DEPTH} levels.")
        self.key = key


def _depth_over(values: list, depth: int, limit: int) -> bool:
    """Whether containers among ``values`` (at ``depth``) nest past ``limit``, level by level."""
    while level := [c for c in values if isinstance(c, dict | list)]:
        if depth > limit:
            return True
        values = [g for c in level for g in (c.values() if isinstance(c, dict) else c)]
        depth += 1
    return False


def _too_deep_in(data: dict | list, limit: int = MAX_JSON_DEPTH) -> str | None:
    """``too_deep_at`` for parsed data: the whole document first, then (rarely) each
    top-level value, to name the one at fault."""
    if not _depth_over([data], 1, limit):
        return None
    if isinstance(data, list):
        return ""
    return next(str(k) for k, v in data.items() if _depth_over([v], 2, limit))


def loads_bounded(text: str, **kwargs: Any) -> Any:
    """``json.loads`` that raises ``TooDeep`` for documents nested deeper than
    ``MAX_JSON_DEPTH`` (instead of a ``RecursionError`` for the deepest)."""
    if text.count("{") + text.count("[") <= MAX_JSON_DEPTH:
        return json.loads(text, **kwargs)  # too few brackets to nest too deep
    try:
        data = json.loads(text, **kwargs)
    except RecursionError:
        raise TooDeep(too_deep_at(text) or "") from None
    if isinstance(data, dict | list) and (key := _too_deep_in(data)) is not None:
        raise TooDeep(key)
    return data


def _field_being_read(exc: BaseException) -> str:
    """The multipart field Django was reading when it gave up: its parser raises
    ``RequestDataTooBig`` without the name, which is in the raising frame's locals."""
    tb = exc.__traceback__
    name = ""
    while tb is not None:
        if tb.tb_frame.f_code.co_filename.endswith("multipartparser.py"):
            name = str(tb.tb_frame.f_locals.get("field_name") or name)
        tb = tb.tb_next
    return name


def _too_big(field: str) -> TooLarge:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    message = f"Larger than the limit of {limit} bytes for data held in memory."
    if field:
        return TooLarge(f"{field}: {message}", errors={field: [message]})
    return TooLarge(f"The request body is larger than the limit of {limit} bytes.")


class JSONParser(parsers.BaseParser):
    """JSON bodies: bounded in size (``DATA_UPLOAD_MAX_MEMORY_SIZE``) and nesting depth.

    Not a subclass of DRF's ``JSONParser``: DRF reads ``request.body`` for that class before
    parsing, and Django raises ``RequestDataTooBig`` there, outside any parser."""

    media_type = "application/json"
    renderer_class = renderers.JSONRenderer
    strict = api_settings.STRICT_JSON

    def parse(self, stream, media_type=None, parser_context=None):
        if stream is None:
            return None
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        raw = stream.read(limit + 1) if limit is not None else stream.read()
        if limit is not None and len(raw) > limit:
            raise _too_big("")
        # get_encoding is new in DRF 3.18; its stubs (3.18.1) do not list it yet.
        encoding = parsers.get_encoding(parser_context or {})  # type: ignore[attr-defined]
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError as exc:
            raise ParseError(f"JSON parse error - {exc}") from exc
        constant = drf_json.strict_constant if self.strict else None
        try:
            return loads_bounded(text, parse_constant=constant)
        except TooDeep as exc:
            raise InvalidInput.for_field(exc.key or "non_field_errors", str(exc)) from exc
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from exc


class MultiPartParser(parsers.MultiPartParser):
    """Multipart forms: a form field over Django's in-memory limit is a 413 naming it."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RequestDataTooBig as exc:
            raise _too_big(_field_being_read(exc)) from exc
