"""The inbox: a person's notifications (what the e-mails say), newest first."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from events import notifications
from events.models import Notification
from registry.types import SignedInRequest

PER_PAGE = 25


@login_required
def inbox(request: SignedInRequest) -> HttpResponse:
    """The person's own notifications, unread ones highlighted, paginated."""
    page = Paginator(notifications.notifications_of(request.user), PER_PAGE).get_page(
        request.GET.get("page")
    )
    return render(request, "events/inbox.html", {"page": page})


@login_required
def inbox_open(request: SignedInRequest, pk: int) -> HttpResponse:
    """Follow one of the person's notifications to what it is about, marking it read;
    anyone else's is a 404."""
    notification = Notification.objects.filter(recipient=request.user, pk=pk).first()
    if notification is None:
        raise Http404("No such notification.")
    notifications.notifications_mark_read(actor=request.user, ids=[notification.pk])
    link = notification.link
    # Links are paths in this app: never send a person elsewhere from here.
    if not link.startswith("/") or link.startswith("//"):
        return redirect("inbox")
    return redirect(link)


@login_required
@require_POST
def inbox_read_all(request: SignedInRequest) -> HttpResponse:
    """Mark every notification of the person read."""
    count = notifications.notifications_mark_read(actor=request.user)
    messages.success(request, f"{count} notification{'' if count == 1 else 's'} marked read.")
    return redirect("inbox")
