"""Logging filters."""

from __future__ import annotations

import logging


class DropOptionalImportNoise(logging.Filter):
    """Drop aif360's "... will be unavailable" notices about optional extras."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "will be unavailable" not in record.getMessage()
