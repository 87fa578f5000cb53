"""Hostile content in a real browser: no dialog opens and no payload script runs."""

from __future__ import annotations

from typing import Any

import pytest

from parley import accounts
from parley.store.db import transaction
from tests.browser.conftest import Live, Watched, log_in
from tests.support.xss import Hostile, make_hostile

pytestmark = pytest.mark.browser
PASSWORD = "browser password 2"


@pytest.fixture(scope="module")
def hostile(live: Live) -> Hostile:
    with transaction(live.factory) as session:
        owner = accounts.signup(session, name="mallory", password=PASSWORD, allowed=True)
        commenter = accounts.signup(session, name="trudy", password=PASSWORD, allowed=True)
    return make_hostile(live.factory, owner_id=owner.id, commenter_id=commenter.id)


def poke(page: Any) -> None:
    """Open every <details>, hover and click what a reader might, then check nothing ran."""
    page.evaluate("document.querySelectorAll('details').forEach(d => { d.open = true; })")
    for link in page.locator("#conversation a:not(.branch)").all()[:20]:
        link.hover()
    page.mouse.move(5, 5)
    assert page.evaluate("typeof window.__xss") == "undefined"


def test_hostile_pages_run_nothing(live: Live, hostile: Hostile, watched: Watched) -> None:
    page = watched.page
    urls = [
        f"/c/{hostile.posted}",
        f"/c/{hostile.shared}",
        f"/c/{hostile.shared}?node=u2a",
        "/explore",
        "/explore?search=pythons",
        "/c/%3Cscript%3Ewindow.__xss%3D1%3C%2Fscript%3E",
        "/login?next=javascript:window.__xss=1",
    ]
    for url in urls:
        page.goto(live.url + url)
        poke(page)
    log_in(page, live.url, "mallory", PASSWORD)
    for url in ["/library", "/library?q=click", f"/c/{hostile.shared}"]:
        page.goto(live.url + url)
        poke(page)
    # branch switching swaps hostile HTML in place: still nothing runs
    page.locator("#m-u2b a.branch.prev").click()
    page.wait_for_url("**node=**")
    poke(page)
    assert watched.dialogs == []
    blocked = [e for e in watched.errors if "Content Security Policy" in e]
    assert blocked == [], blocked  # nothing even tried: the HTML held no script to block
    assert page.evaluate("typeof window.__xss") == "undefined"
