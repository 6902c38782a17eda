"""Typed reads of environment variables for settings: a bad value stops start-up.

django-environ's ``env.bool`` reads any unknown word as False, so ``DJANGO_SECURE_COOKIES=ture``
quietly meant insecure cookies. These helpers accept only clear values and otherwise raise
ImproperlyConfigured naming the variable, its value and what is accepted.
"""

from __future__ import annotations

import math
import os
import re
import warnings
from typing import Any
from urllib.parse import urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured

_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")


def _raw(name: str) -> str | None:
    """The variable's value, or None when it is unset or empty (either means: the default)."""
    value = os.environ.get(name, "").strip()
    return value or None


def _refuse(name: str, value: str, accepted: str) -> ImproperlyConfigured:
    return ImproperlyConfigured(f"{name}={value!r} is not valid: {accepted}.")


def env_str(name: str, default: str) -> str:
    """A text value, as given (an empty value stays empty)."""
    return os.environ.get(name, default)


def env_list(name: str, default: list[str]) -> list[str]:
    """A comma-separated list; blanks around items and empty items are dropped."""
    if name not in os.environ:
        return list(default)
    return [item.strip() for item in os.environ[name].split(",") if item.strip()]


def env_bool(name: str, default: bool) -> bool:
    """true/false, 1/0, yes/no or on/off (any case); anything else is refused."""
    value = _raw(name)
    if value is None:
        return default
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise _refuse(name, value, "use one of " + "/".join(_TRUE + _FALSE))


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    """A whole number, at least ``minimum`` when one is given."""
    value = _raw(name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise _refuse(name, value, "use a whole number") from None
    if minimum is not None and number < minimum:
        raise _refuse(name, value, f"use a number of {minimum} or more")
    return number


def env_float(name: str, default: float, *, minimum: float | None = None) -> float:
    """A finite number, at least ``minimum`` when one is given."""
    value = _raw(name)
    if value is None:
        return default
    try:
        number = float(value)
    except ValueError:
        raise _refuse(name, value, "use a number") from None
    # float() also reads "nan" and "inf", which no timeout or interval means.
    if not math.isfinite(number):
        raise _refuse(name, value, "use a finite number")
    if minimum is not None and number < minimum:
        raise _refuse(name, value, f"use a number of {minimum} or more")
    return number


def env_int_list(name: str, default: list[int], *, minimum: int = 0) -> list[int]:
    """A comma-separated list of whole numbers, each at least ``minimum``; not empty."""
    items = env_list(name, default=[str(item) for item in default])
    try:
        numbers = [int(item) for item in items]
    except ValueError:
        raise _refuse(name, os.environ[name], "use whole numbers separated by commas") from None
    if not numbers or any(number < minimum for number in numbers):
        raise _refuse(name, os.environ.get(name, ""), f"use numbers of {minimum} or more")
    return numbers


def env_networks(name: str, default: list[str]) -> list[str]:
    """A comma-separated list of IP networks in CIDR form (``127.0.0.1/32``, ``fd00::/8``)."""
    import ipaddress

    items = env_list(name, default=default)
    for item in items:
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise _refuse(
                name, item, "use IP networks such as 10.0.0.0/8, comma-separated"
            ) from None
    return items


# DRF reads a rate's period by its first letter only, so "20/month" would mean per minute.
_RATE = re.compile(r"\d+/(s|sec|second|m|min|minute|h|hour|d|day)s?")


def env_rate(name: str, default: str) -> str:
    """A request rate as DRF's throttles read it: a whole number per second, minute, hour or
    day (``20/min``, ``1000/day``). Checked here, or a typo would fail every request."""
    value = _raw(name)
    if value is None:
        return default
    if not _RATE.fullmatch(value):
        raise _refuse(name, value, "use a count per s, min, hour or day, e.g. 20/min")
    return value


def _scheme(value: str) -> str:
    # Only the scheme is ever shown: the rest of a URL may hold a password.
    return urlsplit(value).scheme or "(none)"


def env_db_url(name: str, default: str) -> dict[str, Any]:
    """A database URL (postgres://user@host:5432/name, sqlite:////path/db.sqlite3) as a
    DATABASES entry, parsed by django-environ; an unknown scheme is refused."""
    value = _raw(name) or default
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # environ warns of an unknown engine; we refuse it
        config: dict[str, Any] = dict(environ.Env.db_url_config(value))
    # A known scheme becomes a dotted backend path; anything else comes back bare or empty.
    if "." not in str(config.get("ENGINE", "")):
        raise ImproperlyConfigured(
            f"{name} is not a database URL (scheme {_scheme(value)!r}): use e.g. "
            "postgres://user@host:5432/name or sqlite:////path/to/db.sqlite3."
        )
    return config


def env_cache_url(name: str, default: str) -> dict[str, Any]:
    """A cache URL (dbcache://table, redis://host:6379/3) as a CACHES entry, parsed by
    django-environ; an unknown scheme is refused naming the variable."""
    value = _raw(name) or default
    try:
        return dict(environ.Env.cache_url_config(value))
    except ImproperlyConfigured:
        raise ImproperlyConfigured(
            f"{name} is not a cache URL (scheme {_scheme(value)!r}): use e.g. "
            "dbcache://table_name or redis://host:6379/3."
        ) from None
