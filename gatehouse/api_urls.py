"""REST API v1: every app's API routes under one ``api`` namespace."""

from __future__ import annotations

from events.api import urls as events_api
from explain.api import urls as explain_api
from registry.api import urls as registry_api
from reviews.api import urls as reviews_api

app_name = "api"

urlpatterns = [
    *registry_api.urlpatterns,
    *explain_api.urlpatterns,
    *reviews_api.urlpatterns,
    *events_api.urlpatterns,
]
