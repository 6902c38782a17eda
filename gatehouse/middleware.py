"""Project-wide behaviour of every page: response headers the framework does not set on its
own, and the one place where domain errors become the 404 and 403 pages."""

from __future__ import annotations

from collections.abc import Callable

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponseBase
from django.middleware.gzip import GZipMiddleware
from django.utils.cache import add_never_cache_headers

from registry.errors import NotAllowed, NotFound

# Content types worth compressing; PNG plots, zip bundles and PDFs are compressed already.
COMPRESSIBLE = (
    "text/",
    "application/json",
    "application/x-ndjson",
    "application/javascript",
    "image/svg+xml",
)


class CompressText(GZipMiddleware):
    """Pages, API answers and text exports go gzip-compressed to clients that accept it;
    files compressed already go as they are. Against BREACH, Django pads each gzip header
    with random bytes and masks the CSRF token anew in every response."""

    def process_response(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        if not response.get("Content-Type", "").startswith(COMPRESSIBLE):
            return response
        return super().process_response(request, response)


class NoStoreMiddleware:
    """Signed-in pages and every API answer are never stored by a browser or a proxy: they
    show reports, audit data and, once, new API tokens (the profile page)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        # DRF copies a token-authenticated user onto the Django request, so API calls count.
        user = getattr(request, "user", None)
        signed_in = user is not None and user.is_authenticated
        if (signed_in or request.path.startswith("/api/")) and "Cache-Control" not in response:
            add_never_cache_headers(response)
        return response


class DomainErrorPages:
    """A page whose service or selector raises NotFound shows the 404 page, NotAllowed the
    403 page: one mapping for every view (the API maps the same errors to JSON in
    ``registry.api.errors``). Views that turn a refusal into a form error catch it first."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> None:
        if isinstance(exception, NotFound):
            raise Http404(exception.message) from exception
        if isinstance(exception, NotAllowed):
            raise PermissionDenied(exception.message) from exception
