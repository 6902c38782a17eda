"""Root URLs: the web pages, the REST API v1, its schema and docs, and the admin."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

# Swagger UI's script is served from its own URL (the split view), and its page is our
# template: the sidecar's, with a language and a stylesheet instead of an inline <style>, so
# the page keeps the site's strict Content-Security-Policy.
api_docs = SpectacularSwaggerSplitView.as_view(url_name="schema", template_name="api_docs.html")

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", api_docs, name="api-docs"),
    path("api/v1/", include("gatehouse.api_urls")),
    path("", include("web.urls")),
]

handler400 = "gatehouse.views.bad_request"
handler403 = "gatehouse.views.permission_denied"
handler404 = "gatehouse.views.page_not_found"
handler500 = "gatehouse.views.server_error"
