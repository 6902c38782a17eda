"""Root URLs: the web pages, the REST API v1, its schema and docs, and the admin."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/v1/", include("gatehouse.api_urls")),
    path("", include("explain.urls")),
    path("", include("registry.urls")),
    path("", include("reviews.urls")),
]
