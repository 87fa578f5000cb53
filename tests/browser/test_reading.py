"""Reading one's own conversation in a real browser: from the library to its page, a
branch switched in place, the Markdown link; nothing blocked by the CSP, no dialog."""

from __future__ import annotations

import pytest

from parley import accounts
from parley.store import conversations
from parley.store.db import transaction
from parley.store.rows import explode
from tests.browser.conftest import (
    Live,
    Watched,
    expect,
    log_in,
    screenshot,
    switch_to_the_old_branch,
)
from tests.web.conftest import conversation

pytestmark = pytest.mark.browser
PASSWORD = "browser password 2"


def test_open_a_conversation_from_the_library_and_switch_branches(
    live: Live, watched: Watched
) -> None:
    with transaction(live.factory) as session:
        user = accounts.signup(session, name="carol", password=PASSWORD, allowed=True)
        item = conversation("talk", title="Unshared <b>talk</b>", branched=True)
        item["mapping"]["u1"]["message"]["content"]["parts"] = ["<img src=x onerror=alert(1)>"]
        conversations.save(session, owner_id=user.id, item=explode(item))
    page = watched.page
    log_in(page, live.url, "carol", PASSWORD)
    page.locator("tr#conv-talk a.conv-title").click()
    page.wait_for_url("**/library/c/talk")
    expect(page.locator("h1")).to_have_text("Unshared <b>talk</b>")
    expect(page.locator("#conversation")).to_contain_text("new answer")
    expect(page.locator("#m-u1 .body")).to_have_text("<img src=x onerror=alert(1)>")

    switch_to_the_old_branch(page)
    links = page.locator("a[download]")
    expect(links.first).to_have_attribute("href", "/library/c/talk/markdown")
    expect(links.last).to_have_attribute("href", "/library/c/talk/markdown?all_branches=true")
    screenshot(page, "conversation")
    assert watched.dialogs == [] and watched.errors == []


def test_the_signed_in_pages_fit_a_phone_screen(live: Live, watched: Watched) -> None:
    with transaction(live.factory) as session:
        user = accounts.signup(session, name="dave", password=PASSWORD, allowed=True)
        for i in range(3):
            item = conversation(f"p{i}", title=f"A rather long title for a phone, number {i}")
            conversations.save(session, owner_id=user.id, item=explode(item))
    page = watched.page
    page.set_viewport_size({"width": 390, "height": 800})
    log_in(page, live.url, "dave", PASSWORD)
    for path in ("/library", "/library/c/p0", "/heatmap", "/explore"):
        answer = page.goto(f"{live.url}{path}")
        assert answer is not None and answer.status == 200, path
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{path} is {overflow}px wider than the screen"
    assert watched.errors == []


def test_delete_a_conversation_from_its_page(live: Live, watched: Watched) -> None:
    with transaction(live.factory) as session:
        user = accounts.signup(session, name="erin", password=PASSWORD, allowed=True)
        for cid, title in (("gone", "To be deleted"), ("kept", "To be kept")):
            conversations.save(
                session, owner_id=user.id, item=explode(conversation(cid, title=title))
            )
    page = watched.page
    log_in(page, live.url, "erin", PASSWORD)
    page.locator("tr#conv-gone a.conv-title").click()
    page.wait_for_url("**/library/c/gone")
    page.locator(".danger-zone summary").click()
    page.locator(".danger-zone button.danger").click()
    page.wait_for_url("**/library?done=removed")
    expect(page.locator(".notice")).to_contain_text("Conversation deleted")
    expect(page.locator("table.conversations")).not_to_contain_text("To be deleted")
    expect(page.locator("table.conversations")).to_contain_text("To be kept")
    assert watched.dialogs == [] and watched.errors == []
