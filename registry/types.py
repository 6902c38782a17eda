"""Type names for who is asking, shared by every app's services, selectors and permissions."""

from __future__ import annotations

from typing import TypeAlias

from django.contrib.auth.models import AnonymousUser, User
from django.http import HttpRequest

# Someone who does something: a signed-in person or a CI account (a service's ``actor``).
Actor: TypeAlias = User
# Someone who asks to see something, possibly not signed in (a selector's or predicate's
# ``user``): every predicate answers no for the anonymous user.
AnyUser: TypeAlias = User | AnonymousUser


class SignedInRequest(HttpRequest):
    """A request to a ``login_required`` view: its user is signed in. For annotations only;
    Django builds plain HttpRequests."""

    user: User
