"""The dashboard: what a person should look at now."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from .. import pages


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    """Pending reviews, versions held by gates, production versions, running reports."""
    return render(request, "reviews/dashboard.html", pages.dashboard(request.user))
