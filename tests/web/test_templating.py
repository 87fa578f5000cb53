"""The page environment: autoescape, filters, static URLs, the base layout's contract."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from jinja2 import ChoiceLoader, DictLoader
from markupsafe import Markup
from starlette.requests import Request

from parley.render import PYGMENTS_CSS
from parley.web.templating import (
    ENV,
    STATIC,
    TEMPLATES,
    count,
    isodate,
    isotime,
    plural,
    render_error,
    render_page,
    static,
)


def fake_request(app: FastAPI, headers: list[tuple[bytes, bytes]] | None = None) -> Request:
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/x",
        "raw_path": b"/x",
        "query_string": b"",
        "headers": headers or [],
        "app": app,
        "client": ("127.0.0.1", 1234),
        "server": ("testserver", 80),
        "scheme": "http",
    }
    return Request(scope)


def test_filters() -> None:
    assert isodate(1_700_000_000) == "2023-11-14"
    assert isotime(1_700_000_000.5) == "2023-11-14T22:13:20Z"
    for unusable in (None, "yesterday", True, 1e300, float("nan")):
        assert isodate(unusable) == "" and isotime(unusable) == ""
    assert [count(n) for n in (0, 999, 1000, 1234, 56_789, 2_000_000, 3_450_000)] == [
        "0",
        "999",
        "1k",
        "1.2k",
        "56.8k",
        "2M",
        "3.5M",
    ]
    assert [plural(n, "view") for n in (0, 1, 2, 1500)] == [
        "0 views",
        "1 view",
        "2 views",
        "1.5k views",
    ]


def test_autoescape_and_the_render_text_filter() -> None:
    hostile = '<script>alert(1)</script>"><img src=x onerror=alert(1)>'
    out = ENV.from_string('<p title="{{ v }}">{{ v }}</p>{{ v|render_text }}').render(v=hostile)
    assert "<script>" not in out and "<img" not in out
    assert out.count("&lt;script&gt;") == 3
    assert isinstance(ENV.filters["render_text"]("a\nb"), Markup)
    assert ENV.filters["render_text"]("a\nb") == "a<br>\nb"


def test_static_urls_carry_a_content_hash_and_stay_in_the_folder() -> None:
    url = static("parley.css")
    assert re.fullmatch(r"/static/parley\.css\?v=[0-9a-f]{12}", url)
    for bad in ("../templating.py", "nope.css", "/etc/passwd"):
        with pytest.raises(ValueError):
            static(bad)


def test_pygments_css_is_the_renderers() -> None:
    assert (STATIC / "pygments.css").read_text() == PYGMENTS_CSS


def test_templates_have_no_inline_script_style_or_handlers() -> None:
    for path in sorted(TEMPLATES.glob("*.html")):
        text = path.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)", text), path.name
        assert not re.search(r"<style", text), path.name
        assert not re.search(r"\sstyle\s*=", text), path.name
        assert not re.search(r"\son[a-z]+\s*=", text, re.IGNORECASE), path.name
        assert "|safe" not in text.replace(" ", ""), path.name


def test_base_layout_blocks_and_common_context(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Other pages (the heatmap) extend base.html and fill title, head and content."""
    child = (
        '{% extends "base.html" %}{% block title %}T-{{ thing }}{% endblock %}'
        '{% block head %}<meta name="x" content="head-block">{% endblock %}'
        "{% block content %}<p>content {{ thing }} {{ settings.base_url }} "
        "{{ user is none }} {{ csrf_token is none }}</p>{% endblock %}"
    )
    loader = ChoiceLoader([DictLoader({"child.html": child}), ENV.loader])  # type: ignore[list-item]
    monkeypatch.setattr(ENV, "loader", loader)
    response = render_page(fake_request(app), "child.html", thing="<b>")
    body = bytes(response.body).decode()
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "<title>T-&lt;b&gt;</title>" in body
    assert '<meta name="x" content="head-block">' in body
    assert "<p>content &lt;b&gt; http://127.0.0.1:8080 True True</p>" in body
    assert static("parley.css") in body and static("parley.js") in body
    assert 'href="/login"' in body  # nobody is signed in


def test_error_page(app: FastAPI) -> None:
    response = render_error(fake_request(app), 404, "share <x> not found")
    assert response.status_code == 404
    assert "share &lt;x&gt; not found" in bytes(response.body).decode()
