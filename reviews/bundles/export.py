"""Exporting a version's bundle: served from storage when nothing it covers changed, built and
stored otherwise, and recorded as ``bundle.exported`` either way."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from registry.audit.record import audit_record
from registry.models import ModelVersion
from registry.permissions import can_export_audit, require

from .build import Bundle, bundle_build
from .cache import bundle_cached, bundle_key, bundle_store


def bundle_export(*, actor, version: ModelVersion) -> Bundle:
    """Build a version's bundle for an auditor or admin (or serve the stored one if nothing it
    covers changed) and record ``bundle.exported`` with the manifest's sha256 of the file
    served, which ties the file to the chain."""
    require(can_export_audit(actor), "Only auditors and admins export bundles.")
    now = timezone.now()
    key = bundle_key(version, now=now)
    bundle = bundle_cached(version, key)
    if bundle is None:
        bundle = bundle_build(version=version, actor=actor, now=now)
        # Stored only if nothing changed while it was built, so the key describes its content.
        if bundle.complete and bundle_key(version, now=now) == key:
            bundle_store(version, key, bundle)
    with transaction.atomic():
        event = audit_record(
            actor=actor,
            action="bundle.exported",
            obj=version,
            model_name=version.model.name,
            payload={
                "version": version.version,
                "manifest_sha256": bundle.manifest_sha256,
                "size": bundle.size,
                "files": len(bundle.manifest["files"]),
                "events": bundle.manifest["audit"]["events"],
                "last_seq": (bundle.manifest["audit"]["last"] or {}).get("seq"),
            },
        )
    bundle.audit_seq = event.seq
    return bundle
