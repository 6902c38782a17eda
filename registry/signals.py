"""Domain signals: how apps further down the dependency chain learn of registry events.

``registry`` imports neither ``explain`` nor ``reviews``; they subscribe here. Signals are
sent explicitly by services, inside their transaction, never from ``save()``.
"""

from __future__ import annotations

from django.dispatch import Signal

# Sent with version=<ModelVersion>, actor=<User> once a new version's rows are written.
version_registered = Signal()
