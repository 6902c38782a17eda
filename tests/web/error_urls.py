"""The site's URLs plus views that fail, for the error-page tests."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.urls import path
from rest_framework.views import APIView

from gatehouse.urls import handler400, handler403, handler404, handler500, urlpatterns
from registry.errors import NotAllowed, NotFound

SECRET_DETAIL = "boom: the vault combination is 0451"


def page_boom(request: HttpRequest) -> HttpResponse:
    raise RuntimeError(SECRET_DETAIL)


def page_forbidden(request: HttpRequest) -> HttpResponse:
    raise PermissionDenied("private reason")


def page_domain_not_found(request: HttpRequest) -> HttpResponse:
    raise NotFound("No model named 'secret-model'.")


def page_domain_not_allowed(request: HttpRequest) -> HttpResponse:
    raise NotAllowed("private reason")


def api_form_post(request: HttpRequest) -> HttpResponse:
    """A plain Django view under /api/, so Django's CSRF check (not DRF's) applies."""
    return HttpResponse(str(len(request.POST)))


class ApiBoom(APIView):
    def get(self, request):
        raise RuntimeError(SECRET_DETAIL)

    def post(self, request):
        # Reading the body is where Django refuses too many fields or too big a body.
        return HttpResponse(str(len(request.data)))


urlpatterns = [
    path("boom/", page_boom),
    path("forbidden/", page_forbidden),
    path("domain-not-found/", page_domain_not_found),
    path("domain-not-allowed/", page_domain_not_allowed),
    path("api/v1/boom/", ApiBoom.as_view()),
    path("api/form/", api_form_post),
    path("api/raw-boom/", page_boom),
    *urlpatterns,
]

__all__ = ["handler400", "handler403", "handler404", "handler500", "urlpatterns"]
