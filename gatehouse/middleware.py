"""Project-wide response headers the framework does not set on its own."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponseBase
from django.utils.cache import add_never_cache_headers


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
