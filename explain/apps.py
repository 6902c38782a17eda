from __future__ import annotations

from django.apps import AppConfig


class ExplainConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "explain"

    def ready(self) -> None:
        from registry.signals import version_registered

        from . import services

        version_registered.connect(services.reports_for_new_version, dispatch_uid="explain.reports")
