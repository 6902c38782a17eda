from __future__ import annotations

from django.apps import AppConfig


class WebConfig(AppConfig):
    """The server-rendered pages for every role, on top of registry, explain and reviews."""

    name = "web"
    verbose_name = "Web pages"
