"""Project-wide behaviour of every page: response headers the framework does not set on its
own, and the one place where domain errors become the 404 and 403 pages."""

from __future__ import annotations

from collections.abc import Callable

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponseBase
from django.utils.cache import add_never_cache_headers

from registry.errors import NotAllowed, NotFound


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
