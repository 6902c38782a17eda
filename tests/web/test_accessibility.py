"""What axe-core checks in the browser journey (tests/integration/test_browser_journey.py),
pinned here without a browser: lists keep their list semantics, and tables that scroll inside
themselves on a phone can be reached by keyboard."""

from __future__ import annotations

import re
from pathlib import Path

from django.contrib.staticfiles import finders
from django.test import Client

from tests.builders import web


def test_a_flash_message_is_a_list_item_of_a_list_inside_a_status_region(auditor):
    response = web(auditor).post("/audit/verify/", follow=True)

    html = response.content.decode()
    assert response.status_code == 200
    assert re.search(r'<div role="status"><ul class="messages">\s*<li class="msg-success">', html)
    # A role on the list itself would take its list semantics away from its items (axe-core's
    # listitem rule, serious).
    assert not re.search(r"<(ul|ol|li)\b[^>]*\brole=", html)


def test_every_page_loads_the_script_that_lets_the_keyboard_reach_scrolling_tables(auditor):
    tag = '<script src="/static/gatehouse/scroll.js" defer></script>'
    assert tag in Client().get("/login/").content.decode()
    assert tag in web(auditor).get("/audit/").content.decode()
    script = Path(str(finders.find("gatehouse/scroll.js"))).read_text(encoding="utf-8")
    assert 'setAttribute("tabindex", "0")' in script
    assert "scrollWidth > table.clientWidth" in script
