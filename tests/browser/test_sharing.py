"""The sharing flow in a real browser: share from the library, open the short link,
switch branches, comment, save, explore and search. Saves screenshots of the pages."""

from __future__ import annotations

import re

import pytest

from parley import accounts
from parley.store import conversations
from parley.store.db import transaction
from parley.store.rows import explode
from parley.store.users import User
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
PASSWORD = "browser password 1"


@pytest.fixture(scope="module")
def alice(live: Live) -> User:
    with transaction(live.factory) as session:
        user = accounts.signup(session, name="alice", password=PASSWORD, allowed=True)
        items = [conversation("demo", title="Branching demo about pythons", branched=True)]
        items += [
            conversation(f"c{i}", title=f"Conversation number {i}", create=1.7e9 + i * 3600)
            for i in range(5)
        ]
        for item in items:
            conversations.save(session, owner_id=user.id, item=explode(item))
    return user


def test_share_comment_save_switch_explore(live: Live, alice: User, watched: Watched) -> None:
    page = watched.page
    log_in(page, live.url, "alice", PASSWORD)
    expect(page.locator("h1")).to_have_text("Your library")

    # share from the library, publicly
    row = page.locator("tr#conv-demo")
    row.locator("select[name=visibility]").select_option("public")
    row.locator("form.share-form button").click()
    page.wait_for_url("**/library?done=shared#conv-demo")
    short = page.locator("tr#conv-demo a.short-link")
    expect(short).to_have_text(re.compile(r"^/[0-9A-Za-z]{7}$"))
    share_id = short.inner_text()[1:]

    # the short link redirects to the share page
    page.goto(f"{live.url}/{share_id}")
    page.wait_for_url(f"**/c/{share_id}")
    expect(page.locator("h1")).to_have_text("Branching demo about pythons")
    expect(page.locator("#conversation")).to_contain_text("new answer")

    # switch branches without a reload (the JS swaps the conversation in place)
    switch_to_the_old_branch(page)
    page.locator("#m-u2a a.branch.next").click()
    expect(page.locator("#conversation")).to_contain_text("new answer")
    page.go_back()
    expect(page.locator("#conversation")).to_contain_text("old answer")
    page.goto(f"{live.url}/c/{share_id}")

    # comment on the last answer
    turn = page.locator("#m-a2b")
    turn.locator("a.reply").click()
    page.wait_for_url(re.compile(r".*reply=a2b#m-a2b$"))
    turn.locator("textarea[name=body]").fill("A fine answer.\nSecond line <b>not bold</b>")
    turn.locator("form.comment-form button").click()
    page.wait_for_url(re.compile(r".*done=commented#comment-"))
    comment = page.locator("#m-a2b .comment-body")
    expect(comment).to_contain_text("Second line <b>not bold</b>")
    expect(comment.locator("br")).to_have_count(1)  # the line break kept; no <b> element
    expect(comment.locator("b")).to_have_count(0)

    # save it
    page.locator("button[data-action=save]").click()
    page.wait_for_url("**done=saved")
    expect(page.locator("button[data-action=save]")).to_have_text("Saved ★")
    screenshot(page, "share")

    # explore and search
    page.goto(f"{live.url}/explore")
    expect(page.locator(".card-title").first).to_have_text("Branching demo about pythons")
    page.fill("form.search-form input[name=search]", "pythons")
    page.click("form.search-form button")
    page.wait_for_url("**search=pythons")
    expect(page.locator(".card-title")).to_have_count(1)
    page.fill("form.search-form input[name=search]", "zebras")
    page.click("form.search-form button")
    expect(page.locator("p.empty")).to_contain_text("No public conversation matches")
    page.goto(f"{live.url}/explore?type=top")
    screenshot(page, "explore")

    # the library lists the share and the save
    page.goto(f"{live.url}/library")
    expect(page.locator("section h2:text('Saved') + ul .card-title")).to_have_text(
        "Branching demo about pythons"
    )
    expect(page.locator("tr#conv-demo select[name=visibility]")).to_have_value("public")
    screenshot(page, "library")
    assert watched.dialogs == []
    assert watched.errors == [], watched.errors
