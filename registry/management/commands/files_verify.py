"""Hash every stored file against the sha256 its row records; exit 1 when any is missing
or altered (after a restore, a disk fault, or a hand edit)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import cast

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError
from django.db import models

CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Tracked:
    """A file field whose rows record the file's sha256 (and maybe its size)."""

    model: type[models.Model]
    file: str
    sha256: str
    size: str | None

    @property
    def label(self) -> str:
        return self.model._meta.label_lower


def tracked_fields() -> Iterator[Tracked]:
    """Every FileField with a ``sha256`` (or ``<field>_sha256``) column beside it, in every
    installed app: a new kind of stored file is checked without being listed here."""
    for model in apps.get_models():
        names = {field.name for field in model._meta.concrete_fields}
        for field in model._meta.concrete_fields:
            if not isinstance(field, models.FileField):
                continue
            digest = next((n for n in (f"{field.name}_sha256", "sha256") if n in names), None)
            if digest is not None:
                size = "size_bytes" if "size_bytes" in names else None
                yield Tracked(model, field.name, digest, size)


@dataclass(frozen=True)
class Problem:
    """A stored file that does not match its row."""

    path: str
    what: str
    row: str

    def __str__(self) -> str:
        return f"{self.path} ({self.row}): {self.what}"


def _digest(storage, name: str) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with storage.open(name, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def files_check(tracked: Tracked) -> tuple[int, list[Problem]]:
    """Hash each file of one field; returns how many rows were checked and the problems."""
    field = cast(models.FileField, tracked.model._meta.get_field(tracked.file))
    columns = ["pk", tracked.file, tracked.sha256] + ([tracked.size] if tracked.size else [])
    rows = tracked.model._default_manager.values_list(*columns).order_by("pk")
    checked, problems = 0, []
    for pk, name, expected, *size in rows.iterator(chunk_size=500):
        checked += 1

        def row(pk=pk) -> str:
            obj = tracked.model._default_manager.filter(pk=pk).first()
            return f"{tracked.label} #{pk}: {obj}"

        if not name:
            problems.append(Problem("(no file)", "missing: the row names no file", row()))
            continue
        try:
            actual, length = _digest(field.storage, name)
        except FileNotFoundError:
            problems.append(Problem(name, "missing: not in storage", row()))
            continue
        except OSError as exc:
            problems.append(Problem(name, f"missing: unreadable ({exc})", row()))
            continue
        if actual != expected:
            problems.append(
                Problem(
                    name,
                    f"altered: sha256 {actual[:16]}…, the row records {expected[:16]}…",
                    row(),
                )
            )
        elif size and size[0] != length:
            problems.append(
                Problem(name, f"altered: {length} bytes, the row records {size[0]}", row())
            )
    return checked, problems


class Command(BaseCommand):
    help = (
        "Hash every stored file (evaluation data, model files, report plots, ...) against the "
        "sha256 its row records; name each missing or altered file and exit 1."
    )

    def handle(self, *args, **options) -> None:
        total, problems = 0, []
        for tracked in tracked_fields():
            checked, found = files_check(tracked)
            total += checked
            problems += found
            self.stdout.write(
                f"{tracked.label}.{tracked.file}: {checked} file(s), {len(found)} problem(s)"
            )
        if problems:
            missing = sum(p.what.startswith("missing") for p in problems)
            raise CommandError(
                "".join(f"FAIL {problem}\n" for problem in problems)
                + f"Stored files do NOT match the database: {missing} missing, "
                f"{len(problems) - missing} altered, of {total}."
            )
        self.stdout.write(self.style.SUCCESS(f"Stored files OK: {total} match their sha256."))
