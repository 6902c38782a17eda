from __future__ import annotations

from django.apps import AppConfig


class ExplainConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "explain"
