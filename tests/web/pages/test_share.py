"""The share page, its short link and its forms (comments, save)."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

from parley import social
from parley.store import shares as store
from parley.store.db import transaction
from tests.support.pages import HTML, Browser, Page, share
from tests.web.conftest import Caller

CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120 Safari/537.36"


def test_short_link_redirects_and_shadows_nothing(app: FastAPI, client: TestClient) -> None:
    answer = client.get("/aB3dE6g", follow_redirects=False)
    assert answer.status_code == 302 and answer.headers["location"] == "/c/aB3dE6g"
    assert client.head("/aB3dE6g", follow_redirects=False).status_code == 302
    for path in ("/abcdef", "/abcdefgh", "/abc-efg", "/favicon.ico", "/a/bcdefgh"):
        assert client.get(path, follow_redirects=False).status_code == 404, path
    assert client.post("/aB3dE6g").status_code in (404, 405)
    # seven-letter routes keep working, even ones added after the pages
    assert client.get("/explore", headers=HTML).status_code == 200
    assert client.get("/library", follow_redirects=False).status_code == 401

    def late() -> dict[str, bool]:
        return {"late": True}

    app.add_api_route("/latecom", late)
    assert client.get("/latecom").json() == {"late": True}


def test_share_page_renders_the_branch_and_its_metadata(
    app: FastAPI, client: TestClient, alice: Caller
) -> None:
    made = share(app, alice, title="Branching <b>demo</b>")
    answer = client.get(f"/c/{made.id}", headers=HTML)
    assert answer.status_code == 200
    page = Page(answer.text)
    assert "edited question" in page.text and "new answer" in page.text
    assert "old answer" not in page.text  # another branch
    assert "Branching <b>demo</b>" in page.text and "<b>demo" not in answer.text
    assert "shared by alice" in page.text and "gpt-4o" in page.text
    assert "2 / 2" in page.text  # the switcher on the edited question
    (prev,) = page.find("a", **{"class": "branch prev"})
    assert prev["href"] == f"/c/{made.id}?node=a2a#m-u2b"
    assert page.meta("og:title") == "Branching <b>demo</b>"
    assert page.meta("og:description") == "first question"
    assert page.meta("og:url") == f"http://127.0.0.1:8080/c/{made.id}"
    assert page.meta("robots") == "noindex, nofollow"  # unlisted
    assert answer.headers["x-robots-tag"] == "noindex, nofollow"
    other = Page(client.get(f"/c/{made.id}?node=a2a", headers=HTML).text)
    assert "old answer" in other.text and "new answer" not in other.text
    assert "1 / 2" in other.text


def test_private_shares_are_seen_by_their_owner_only(
    app: FastAPI, client: TestClient, alice: Caller, bob_browser: Browser, alice_browser: Browser
) -> None:
    made = share(app, alice, visibility="private")
    assert client.get(f"/c/{made.id}", headers=HTML).status_code == 404
    assert bob_browser.get(f"/c/{made.id}").status_code == 404
    assert alice_browser.get(f"/c/{made.id}").status_code == 200
    missing = client.get("/c/zzzzzzz", headers=HTML)
    assert missing.status_code == 404 and "text/html" in missing.headers["content-type"]


def test_views_are_buffered_once_per_visitor_and_not_for_bots(
    app: FastAPI, client: TestClient, alice: Caller
) -> None:
    made = share(app, alice, visibility="public")
    views = app.state.runtime.views
    for _ in range(3):
        assert (
            client.get(f"/c/{made.id}", headers={**HTML, "User-Agent": CHROME}).status_code == 200
        )
    client.get(f"/c/{made.id}", headers={**HTML, "User-Agent": "Googlebot/2.1"})
    client.get(f"/c/{made.id}", headers={**HTML, "User-Agent": "Firefox/125.0"})
    assert views.pending() == {made.id: 2}
    with transaction(app.state.runtime.factory) as session:  # nothing written per view
        assert store.get(session, share_id=made.id).views == 0  # type: ignore[union-attr]
    views.flush(app.state.runtime.factory)
    page = Page(client.get(f"/c/{made.id}", headers={**HTML, "User-Agent": CHROME}).text)
    assert "2 views" in page.text


def test_comment_edit_and_delete(
    app: FastAPI, alice: Caller, alice_browser: Browser, bob_browser: Browser
) -> None:
    made = share(app, alice)
    posted = bob_browser.post(
        f"/c/{made.id}/comments", {"node_id": "a2b", "body": "nice <script>x</script>\nline 2"}
    )
    assert posted.status_code == 303
    assert posted.headers["location"].startswith(f"/c/{made.id}?done=commented#comment-")
    comment_id = posted.headers["location"].split("#comment-")[1]
    page = bob_browser.get(posted.headers["location"])
    assert "nice &lt;script&gt;x&lt;/script&gt;<br>" in page.text
    assert "Comment posted." in page.text and "1 comment " in Page(page.text).text
    # the author edits; someone else cannot
    denied = alice_browser.post(f"/c/{made.id}/comments/{comment_id}/edit", {"body": "hacked"})
    assert denied.status_code == 404
    edited = bob_browser.post(f"/c/{made.id}/comments/{comment_id}/edit", {"body": "better"})
    assert edited.status_code == 303
    assert "better" in Page(bob_browser.get(f"/c/{made.id}").text).text
    # the share's owner may delete any comment on it
    gone = alice_browser.post(f"/c/{made.id}/comments/{comment_id}/delete")
    assert gone.status_code == 303
    assert "better" not in alice_browser.get(f"/c/{made.id}").text


def test_comment_rules(app: FastAPI, alice: Caller, bob_browser: Browser) -> None:
    made = share(app, alice)
    url = f"/c/{made.id}/comments"
    no_csrf = bob_browser.client.post(
        url, data={"node_id": "a2b", "body": "hi"}, headers=HTML, follow_redirects=False
    )
    assert no_csrf.status_code == 403
    assert bob_browser.post(url, {"node_id": "a2b", "body": "   "}).status_code == 422
    assert bob_browser.post(url, {"node_id": "a2b", "body": "x" * 5001}).status_code == 422
    assert bob_browser.post(url, {"node_id": "nope", "body": "hi"}).status_code == 404
    anonymous = TestClient(app).post(url, data={"node_id": "a2b", "body": "hi"})
    assert anonymous.status_code == 401
    # "Comment" opens the form under one message; someone signed out is asked to log in
    page = Page(bob_browser.get(f"/c/{made.id}").text)
    (link,) = [a for a in page.find("a") if "reply=a2b" in (a.get("href") or "")]
    assert link["href"] == f"/c/{made.id}?node=a2b&reply=a2b#m-a2b"
    assert not page.find("form", **{"class": "comment-form"})
    opened = Page(bob_browser.get(link["href"] or "").text)
    (form,) = opened.find("form", **{"class": "comment-form"})
    assert form["action"] == f"/c/{made.id}/comments"
    signed_out = TestClient(app).get(link["href"] or "", headers=HTML).text
    assert "Log in</a> to comment" in signed_out


def test_save_and_unsave(app: FastAPI, alice: Caller, bob_browser: Browser) -> None:
    made = share(app, alice)
    saved = bob_browser.post(f"/c/{made.id}/save", {"saved": "1", "node": "a2a"})
    assert saved.status_code == 303
    assert saved.headers["location"] == f"/c/{made.id}?node=a2a&done=saved"
    page = Page(bob_browser.get(f"/c/{made.id}").text)
    assert "Saved ★" in page.text and "1 save " in page.text
    assert "Saved" in Page(bob_browser.get("/library").text).text
    assert bob_browser.post(f"/c/{made.id}/save", {"saved": "0"}).status_code == 303
    assert "Save ☆" in Page(bob_browser.get(f"/c/{made.id}").text).text


def test_the_page_cache_never_outlives_a_change(
    app: FastAPI, client: TestClient, alice: Caller
) -> None:
    made = share(app, alice)
    assert "new answer" in client.get(f"/c/{made.id}", headers=HTML).text  # cached now
    with transaction(app.state.runtime.factory) as session:
        social.share_conversation(
            session, owner_id=alice.user_id or "", conversation_id="c1", node_id="a2a"
        )
    moved = Page(client.get(f"/c/{made.id}", headers=HTML).text)
    assert "old answer" in moved.text and "new answer" not in moved.text
    with transaction(app.state.runtime.factory) as session:
        social.update_share(
            session, share_id=made.id, user_id=alice.user_id or "", visibility="private"
        )
    assert client.get(f"/c/{made.id}", headers=HTML).status_code == 404
