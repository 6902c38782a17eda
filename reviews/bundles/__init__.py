"""Version bundles: one zip that lets an auditor check a version offline.

It holds the report (``report.html`` and ``report.pdf`` from one template), every report's
JSON and plots, the model's audit events with their hashes (JSONL and CSV), the run of the
chain that anchors them (``audit/chain.jsonl``), and ``manifest.json`` with the sha256 of
every file. ``tools/verify_bundle.py`` (standard library only) and ``manage.py
bundle_verify`` check one. Events of one model are a filter of the chain, not a contiguous
piece of it: each included event is checked against its own hash, and the chain run lists
(seq, prev_hash, hash) of every event from the first to the last included one, so the
verifier can see that the run is unbroken and that each included event sits in it, without
the payloads of other models' events.

Modules: ``build`` (``bundle_build``), ``export`` (``bundle_export``: serve the stored bundle
or build one, and record the export), ``cache`` (built bundles kept in storage by the digest
of what they cover), ``archive`` (the zip and its files), ``context`` (what the report shows),
``pdf`` (the PDF) and ``views`` (the download response, and the API view; the web page's view
is in ``web``). Names with a leading underscore are private to this package.
"""

from __future__ import annotations

from .build import Bundle, bundle_build
from .export import bundle_export
from .views import bundle_response

__all__ = ["Bundle", "bundle_build", "bundle_export", "bundle_response"]
