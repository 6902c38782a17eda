"""The inbox page, the dashboard's newest unread, the header's count and the profile page's
e-mail choices: each person sees and changes only their own."""

from __future__ import annotations

import pytest
from django.utils import timezone

from events import notifications
from events.models import EmailChoice, Notification
from tests.builders import record, web
from web.templatetags import gatehouse as tags


@pytest.fixture
def notes(engineer, reviewer):
    """Three notifications of the reviewer (the newest read), one of the engineer."""
    event = record(1, action="version.promoted")[0]
    made = {}
    for n, (user, kind) in enumerate(
        [
            (reviewer, "review_requested"),
            (reviewer, "comment_posted"),
            (reviewer, "production_changed"),
            (engineer, "review_requested"),
        ]
    ):
        made[(user.username, kind)] = Notification.objects.create(
            recipient=user,
            kind=kind,
            event=event,
            subject=f"{user.username} note {n}",
            body=f"body {n}",
            link="/models/credit-default/",
            read_at=timezone.now() if kind == "production_changed" else None,
        )
    return made


def test_the_inbox_lists_only_ones_own_newest_first(notes, reviewer, outsider):
    response = web(reviewer).get("/inbox/")

    assert response.status_code == 200
    page = response.context["page"]
    assert [n.subject for n in page.object_list] == ["rev note 2", "rev note 1", "rev note 0"]
    text = response.content.decode()
    assert "eng note" not in text
    assert text.count('class="notification unread"') == 2
    assert list(web(outsider).get("/inbox/").context["page"].object_list) == []


def test_following_a_notification_marks_it_read_and_goes_to_its_link(notes, reviewer):
    note = notes[("rev", "review_requested")]

    response = web(reviewer).get(f"/inbox/{note.pk}/")

    assert response.status_code == 302
    assert response["Location"] == "/models/credit-default/"
    note.refresh_from_db()
    assert note.read_at is not None
    assert notes[("rev", "comment_posted")].read_at is None


def test_another_persons_notification_is_a_404(notes, reviewer, outsider):
    theirs = notes[("eng", "review_requested")]

    assert web(reviewer).get(f"/inbox/{theirs.pk}/").status_code == 404
    assert web(outsider).get(f"/inbox/{theirs.pk}/").status_code == 404
    theirs.refresh_from_db()
    assert theirs.read_at is None


def test_a_link_elsewhere_is_never_followed(notes, reviewer):
    note = notes[("rev", "review_requested")]
    Notification.objects.filter(pk=note.pk).update(link="//evil.example/")

    assert web(reviewer).get(f"/inbox/{note.pk}/")["Location"] == "/inbox/"


def test_mark_all_read_touches_only_ones_own(notes, reviewer, engineer):
    response = web(reviewer).post("/inbox/read-all/")

    assert response.status_code == 302
    assert not Notification.objects.filter(recipient=reviewer, read_at__isnull=True).exists()
    assert Notification.objects.filter(recipient=engineer, read_at__isnull=True).count() == 1
    assert web(reviewer).get("/inbox/read-all/").status_code == 405


def test_the_header_counts_unread_notifications(notes, reviewer, outsider):
    assert tags.inbox_counts(reviewer)["unread"] == 2
    assert tags.inbox_counts(reviewer)["total"] == 2  # nothing in review waits for them
    assert tags.inbox_counts(outsider)["unread"] == 0

    text = web(reviewer).get("/models/").content.decode()
    assert "2 unread notifications" in text

    notifications.notifications_mark_read(actor=reviewer)
    assert tags.inbox_counts(reviewer)["unread"] == 0


def test_the_dashboard_shows_the_newest_unread(notes, reviewer):
    response = web(reviewer).get("/")

    shown = [n.subject for n in response.context["notifications"]]
    assert shown == ["rev note 1", "rev note 0"]
    assert f'href="/inbox/{notes[("rev", "comment_posted")].pk}/"' in response.content.decode()


def test_the_profile_page_saves_email_choices(reviewer, outsider):
    page = web(reviewer).get("/profile/").content.decode()
    assert "<title>Profile · Gatehouse</title>" in page
    assert page.count('id="email-h"') == 1  # the choices once, in the page's body
    for kind in notifications.KINDS.values():
        assert kind.label in page
    assert 'id="email-review_requested" name="email" value="review_requested" checked' in page
    assert 'id="email-comment_posted" name="email" value="comment_posted">' in page

    response = web(reviewer).post(
        "/profile/email/", {"email": ["comment_posted", "version_approved"]}
    )

    assert response.status_code == 302
    assert dict(EmailChoice.objects.filter(user=reviewer).values_list("kind", "email")) == {
        key: key in ("comment_posted", "version_approved") for key in notifications.KINDS
    }
    assert not EmailChoice.objects.filter(user=outsider).exists()
    page = web(reviewer).get("/profile/").content.decode()
    assert 'value="comment_posted" checked' in page
    assert 'value="review_requested">' in page


def test_an_unknown_kind_is_refused_naming_the_field(reviewer):
    response = web(reviewer).post("/profile/email/", {"email": ["nonsense"]})

    assert response.status_code == 400
    assert "email: Unknown notification kind" in response.content.decode()
    assert not EmailChoice.objects.filter(user=reviewer).exists()
