"""Reading one's own conversation in the web UI: its branches, its sharing, its Markdown."""

from __future__ import annotations

from urllib.parse import unquote

from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.support.pages import HTML, Browser, Page
from tests.web.conftest import Caller, conversation, seed


def test_the_owner_reads_any_branch_of_an_unshared_conversation(
    app: FastAPI, alice: Caller, alice_browser: Browser
) -> None:
    seed(app, alice, conversation("a1", title="Branching talk", branched=True))
    answer = alice_browser.get("/library/c/a1")
    assert answer.status_code == 200
    page = Page(answer.text)
    assert "Branching talk" in page.text and "not shared" in page.text
    assert "edited question" in page.text and "new answer" in page.text
    assert "old answer" not in page.text and "2 / 2" in page.text
    (previous,) = page.find("a", **{"class": "branch prev"})
    assert previous["href"] == "/library/c/a1?node=a2a#m-u2b"
    other = Page(alice_browser.get(previous["href"] or "").text)
    assert "old answer" in other.text and "new answer" not in other.text and "1 / 2" in other.text
    assert answer.headers["cache-control"] == "private, no-store"
    assert page.meta("robots") == "noindex, nofollow"
    (form,) = page.find("form", action="/library/share")  # share it from here
    assert page.find("input", name="conversation_id", value="a1")
    assert form["method"] == "post"


def test_the_library_links_each_conversation_to_its_page(
    app: FastAPI, alice: Caller, alice_browser: Browser
) -> None:
    seed(app, alice, conversation("a1", title="First"), conversation("odd id/é", title="Odd"))
    page = Page(alice_browser.get("/library").text)
    links = {link["href"] for link in page.find("a", **{"class": "conv-title"})}
    assert links == {"/library/c/a1", "/library/c/odd%20id%2F%C3%A9"}
    odd = alice_browser.get("/library/c/odd%20id%2F%C3%A9")
    assert odd.status_code == 200 and "Odd" in Page(odd.text).text


def test_a_shared_conversation_shows_its_short_link(
    app: FastAPI, alice: Caller, alice_browser: Browser
) -> None:
    seed(app, alice, conversation("a1"))
    shared = alice_browser.post("/library/share", {"conversation_id": "a1", "visibility": "public"})
    assert shared.status_code == 303
    page = Page(alice_browser.get("/library/c/a1").text)
    (short,) = page.find("a", title="Its share page")
    assert (short["href"] or "").startswith("/") and len(short["href"] or "") == 8
    assert "public" in page.text and not page.find("form", action="/library/share")


def test_nobody_else_can_tell_it_exists(
    app: FastAPI, client: TestClient, alice: Caller, bob: Caller, bob_browser: Browser
) -> None:
    seed(app, alice, conversation("a1", title="Alice's secret"))
    for url in ("/library/c/a1", "/library/c/a1/markdown", "/library/c/nope"):
        refused = bob_browser.get(url)
        assert refused.status_code == 404 and "Alice's secret" not in refused.text, url
        assert client.get(url, headers=bob.headers).status_code == 404
    to_login = client.get("/library/c/a1", headers=HTML, follow_redirects=False)
    assert to_login.status_code == 303
    assert unquote(to_login.headers["location"]) == "/login?next=/library/c/a1"
    assert client.get("/library/c/a1/markdown").status_code == 401


def test_what_the_conversation_holds_is_rendered_harmless(
    app: FastAPI, alice: Caller, alice_browser: Browser
) -> None:
    hostile = conversation("a1", title="<script>alert(1)</script>")
    hostile["mapping"]["u1"]["message"]["content"]["parts"] = ["<img src=x onerror=alert(2)>"]
    hostile["mapping"]["a1"]["message"]["content"]["parts"] = ["[x](javascript:alert(3))"]
    seed(app, alice, hostile)
    html = alice_browser.get("/library/c/a1").text
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)" in html
    page = Page(html)
    assert not page.find("img") and "&lt;img src=x onerror=alert(2)&gt;" in html
    hrefs = [str(link.get("href") or "") for link in page.find("a")]
    assert hrefs and not [href for href in hrefs if "javascript" in href.lower()]
    assert "[x](javascript:alert(3))" in page.text  # left as text, not made a link


def test_markdown_download(app: FastAPI, alice: Caller, alice_browser: Browser) -> None:
    seed(app, alice, conversation("a1", title="Café notes", branched=True))
    answer = alice_browser.get("/library/c/a1/markdown")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/markdown; charset=utf-8"
    disposition = answer.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="2023-11-14-Caf_ notes.md"')
    assert disposition.endswith("filename*=UTF-8''2023-11-14-Caf%C3%A9%20notes.md")
    assert answer.headers["cache-control"] == "private, no-store"
    text = answer.text
    assert text.startswith("---\n") and 'title: "Café notes"' in text
    assert "edited question" in text and "new answer" in text and "old answer" not in text
    page = Page(alice_browser.get("/library/c/a1").text)
    (every,) = page.find("a", href="/library/c/a1/markdown?all_branches=true")
    whole = alice_browser.get(every["href"] or "").text
    assert "new answer" in whole and "old answer" in whole and "Branch" in whole
    seed(app, alice, conversation("plain"))  # no fork: no second link
    assert not Page(alice_browser.get("/library/c/plain").text).find(
        "a", href="/library/c/plain/markdown?all_branches=true"
    )


def test_the_owner_deletes_it_with_its_share(
    app: FastAPI, client: TestClient, alice: Caller, alice_browser: Browser, bob_browser: Browser
) -> None:
    seed(app, alice, conversation("a1", title="Regrettable"), conversation("a2", title="Kept"))
    assert alice_browser.post("/library/share", {"conversation_id": "a1"}).status_code == 303
    page = Page(alice_browser.get("/library/c/a1").text)
    (short,) = page.find("a", title="Its share page")
    (form,) = page.find("form", action="/library/c/a1/delete")
    assert form["method"] == "post"
    assert bob_browser.post("/library/c/a1/delete").status_code == 404  # not his: nothing goes
    refused = alice_browser.client.post(
        "/library/c/a1/delete", headers=HTML, follow_redirects=False
    )
    assert refused.status_code == 403  # no CSRF token
    assert alice_browser.get("/library/c/a1").status_code == 200
    deleted = alice_browser.post("/library/c/a1/delete")
    assert deleted.status_code == 303 and deleted.headers["location"] == "/library?done=removed"
    assert alice_browser.get("/library/c/a1").status_code == 404
    assert client.get(f"/c{short['href']}", headers=HTML).status_code == 404  # the share
    library = Page(alice_browser.get("/library?done=removed").text)
    assert "Conversation deleted" in library.text
    assert "Regrettable" not in library.text and "Kept" in library.text
    assert alice_browser.post("/library/c/a1/delete").status_code == 404  # once only
