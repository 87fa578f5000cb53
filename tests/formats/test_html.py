"""HTML export: a self-contained, script-free page with sanitized content."""

from __future__ import annotations

from html.parser import HTMLParser

from parley.formats.html import CSP, to_html
from tests.support.xss import problems

from .builders import HOSTILE_TITLE, Conv, msg, sample


class Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.stack: list[str] = []
        self.text_in: dict[str, list[str]] = {}
        self.source = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag not in ("br", "img", "hr", "meta", "input"):
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self.stack:
            while self.stack.pop() != tag:
                pass

    def handle_data(self, data: str) -> None:
        for tag in set(self.stack):
            self.text_in.setdefault(tag, []).append(data)

    def text(self, tag: str) -> str:
        return "".join(self.text_in.get(tag, []))


def parse(html: str) -> Page:
    page = Page()
    page.source = html
    page.feed(html)
    page.close()
    return page


def assert_no_active_content(page: Page) -> None:
    names = [tag for tag, _ in page.tags]
    for banned in ("script", "iframe", "object", "embed", "svg", "form", "base"):
        assert banned not in names
    # MathML only as the renderer makes it; the page's own CSP meta and stylesheet aside
    own = ("<meta [('http-equiv', 'Content-Security-Policy')", "<style>")
    assert [p for p in problems(page.source) if not p.startswith(own)] == []
    assert names.count("style") == 1  # only our own inline stylesheet
    for tag, attrs in page.tags:
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, name)
            assert name != "style", tag
            if name in ("href", "src") and value and ":" in value.split("/")[0]:
                assert value.split(":")[0].lower() in ("http", "https", "mailto"), value


def hostile() -> dict[str, object]:
    conv = Conv(title="<script>alert('t')</script> & \"quotes\"")
    conv.add("u", "client-created-root", msg("user", "**not bold** <img src=x onerror=alert(1)>"))
    conv.add(
        "a",
        "u",
        msg(
            "assistant",
            "**bold** <script>alert(2)</script> [x](javascript:alert(3))"
            ' <svg onload=alert(4)> <a href="https://evil.example" onclick="y">l</a>'
            " [ok](https://e.com)",
            model="gpt-4o",
        ),
    )
    return conv.build("a")


def test_page_shell() -> None:
    html = to_html(sample(title=HOSTILE_TITLE))
    page = parse(html)
    assert html.startswith("<!DOCTYPE html>")
    metas = [attrs for tag, attrs in page.tags if tag == "meta"]
    assert {"http-equiv": "Content-Security-Policy", "content": CSP} in metas
    assert CSP == "default-src 'none'; style-src 'unsafe-inline'; img-src https: data:"
    assert "<script" not in html.lower()
    assert page.text("title") == " ".join(HOSTILE_TITLE.split())
    assert_no_active_content(page)


def test_hostile_content_is_neutralised() -> None:
    html = to_html(hostile())
    page = parse(html)
    assert_no_active_content(page)
    assert "<script" not in html.lower()
    assert page.text("title") == "<script>alert('t')</script> & \"quotes\""
    article_text = page.text("article")
    assert "**not bold** <img src=x onerror=alert(1)>" in article_text  # user text: literal
    assert "<script>alert(2)</script>" in article_text  # assistant raw HTML: shown as text
    assert "bold" in page.text("strong")
    assert '<a href="https://evil.example" onclick="y">' in article_text  # escaped, inert
    links = [attrs for tag, attrs in page.tags if tag == "a"]
    assert links == [{"href": "https://e.com", "rel": "nofollow noopener noreferrer"}]


def test_visible_branch_citations_and_tools() -> None:
    html = to_html(sample())
    page = parse(html)
    text = page.text("main")
    assert "OLD ANSWER" not in text and "EDITED" not in text
    assert "FINAL ANSWER" in text
    assert "I should run code" not in text
    hrefs = [attrs.get("href") for tag, attrs in page.tags if tag == "a"]
    assert "https://en.wikipedia.org/wiki/Paris" in hrefs
    assert "https://example.org/rome" in hrefs
    ids = [attrs["id"] for _, attrs in page.tags if attrs.get("id")]
    assert len(ids) == len(set(ids))  # footnote ids are unique across messages
    assert "print(6 * 7)" in page.text("details")
    assert "42" in page.text("details")
    summaries = page.text("summary")
    assert "Tool (python) output" in summaries and "Code sent to python" in summaries
    assert '<span class="mi">6</span>' in html  # highlighted, class-based
    assert "[unsupported content type: mystery_widget]" in text


def test_reasoning_in_details_only_on_request() -> None:
    page = parse(to_html(sample(), include_reasoning=True))
    assert "I should run code." in page.text("details")
    assert "Reasoning" in page.text("summary")
    assert_no_active_content(page)


def test_all_branches() -> None:
    page = parse(to_html(sample(), all_branches=True))
    headings = page.text("h2")
    assert "Branch 2 of 3 (from message u1)" in headings
    assert "Branch 3 of 3 (from message a1b)" in headings
    assert "OLD ANSWER" in page.text("section") and "EDITED ANSWER" in page.text("section")
    assert_no_active_content(page)


def test_untitled_and_empty() -> None:
    page = parse(to_html({"id": "x", "title": None, "mapping": None, "current_node": None}))
    assert page.text("title") == "Untitled"
    assert_no_active_content(page)


def test_math_is_typeset_and_stays_inert() -> None:
    conv = Conv(title="Euler")
    conv.add("u", "client-created-root", msg("user", "identity?"))
    conv.add(
        "a",
        "u",
        msg(
            "assistant",
            "It is $e^{i\\pi}+1=0$ and $$\\int_0^1 x\\,dx=\\frac12$$ \\href{javascript:alert(1)}{x}",
        ),
    )
    page = parse(to_html(conv.build("a")))
    assert [tag for tag, _ in page.tags].count("math") == 2
    assert_no_active_content(page)
