"""The /heatmap page: pickers, the inline calendar and hours grid, stats beside them."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.support.pages import HTML, Browser, Page
from tests.support.timeline import at, chat, store_all
from tests.web.conftest import Caller

NS = {"svg": "http://www.w3.org/2000/svg"}


def svgs(html: str) -> list[ET.Element]:
    return [ET.fromstring(block) for block in re.findall(r"<svg .*?</svg>", html, re.S)]


def test_needs_an_account(client: TestClient) -> None:
    answer = client.get("/heatmap?year=2024", headers=HTML, follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=/heatmap%3Fyear%3D2024"
    assert client.get("/heatmap").status_code == 401


def test_shows_the_year_the_hours_and_the_stats(
    app: FastAPI, alice: Caller, bob: Caller, alice_browser: Browser
) -> None:
    factory = app.state.runtime.factory
    store_all(
        factory, alice.user_id or "", [chat(f"a{i}", at("2024-09-17 10:00") + i) for i in range(23)]
    )
    store_all(factory, alice.user_id or "", [chat("o", at("2023-05-01 10:00"), model="o1")])
    store_all(factory, bob.user_id or "", [chat("b", at("2024-09-20 10:00"), model="bobs-model")])
    answer = alice_browser.get("/heatmap?year=2024&tz=Europe/Berlin&by=conversations")
    assert answer.status_code == 200
    assert "script-src 'self'" in answer.headers["content-security-policy"]
    calendar, hours = svgs(answer.text)
    days = {d.get("data-date"): d for d in calendar.iterfind(".//svg:rect[@class='day']", NS)}
    assert len(days) == 366 and days["2024-09-17"].get("data-count") == "23"
    assert days["2024-09-20"].get("data-count") == "0"  # not bob's
    assert (
        days["2024-09-17"].findtext("svg:title", namespaces=NS)
        == "23 conversations on Tue 2024-09-17"
    )
    busy = [
        c for c in hours.iterfind(".//svg:rect[@class='hour']", NS) if c.get("data-count") != "0"
    ]
    assert [(c.get("data-day"), c.get("data-hour")) for c in busy] == [("2", "12")]  # 10:00 UTC
    page = Page(answer.text)
    assert "23 conversations" in page.text and "Busiest day" in page.text
    assert "2024-09-17: 23 conversations" in page.text and "bobs-model" not in page.text
    assert "gpt-4o" in page.text
    # the pickers: a plain GET form, the choices selected
    (form,) = page.find("form", action="/heatmap")
    assert form["method"] == "get"
    assert {"value": "2024", "selected": None} in page.find("option", value="2024")
    assert page.find("option", value="2023")  # a year with activity
    assert {"value": "Europe/Berlin", "selected": None} in page.find(
        "option", value="Europe/Berlin"
    )
    assert page.find(
        "a", href="/api/activity/heatmap.png?year=2024&tz=Europe%2FBerlin&by=conversations"
    )
    assert all(attrs.get("src") for tag, attrs in page.tags if tag == "script")  # none inline


def test_defaults_and_bad_values(app: FastAPI, alice_browser: Browser) -> None:
    page = alice_browser.get("/heatmap")
    assert page.status_code == 200 and "No activity in" in page.text
    assert alice_browser.get("/heatmap?tz=Not/AZone").status_code == 422
    assert alice_browser.get("/heatmap?year=1700").status_code == 422
    assert alice_browser.get("/heatmap?by=tokens").status_code == 422
