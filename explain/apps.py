from __future__ import annotations

from django.apps import AppConfig


class ExplainConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "explain"

    def ready(self) -> None:
        from celery.signals import worker_ready

        from registry.signals import version_registered

        from . import services

        version_registered.connect(services.reports_for_new_version, dispatch_uid="explain.reports")

        @worker_ready.connect(weak=False)
        def sweep_on_start(**_: object) -> None:
            # A worker that starts picks up what a dead one left behind, at once.
            try:
                services.reports_sweep()
            finally:
                from django.db import connection

                connection.close()
