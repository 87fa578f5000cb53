"""``/api/activity...``: the heatmap data, pictures, stats and raw list over HTTP."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from typing import Any

import orjson
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from PIL import Image

from tests.support.timeline import at, chat, store_all
from tests.web.conftest import Caller

NS = {"svg": "http://www.w3.org/2000/svg"}


@pytest.fixture
def history(app: FastAPI, alice: Caller, bob: Caller) -> None:
    factory = app.state.runtime.factory
    items = [chat(f"a{i}", at("2024-09-17 00:00") + i * 3000) for i in range(23)]
    items += [chat("b1", at("2024-09-18 08:00"), messages=[at("2024-09-18 08:00")] * 3)]
    items += [chat("late", at("2024-12-31 23:30"))]  # 2025 in Berlin
    store_all(factory, alice.user_id or "", items)
    store_all(factory, bob.user_id or "", [chat("bobs", at("2024-09-17 12:00"))])


def get(client: TestClient, caller: Caller, path: str, **params: Any) -> Any:
    return client.get(path, params=params, headers=caller.headers)


@pytest.mark.usefixtures("history")
def test_activity_is_the_seeds_processed_data(client: TestClient, alice: Caller) -> None:
    answer = get(
        client, alice, "/api/activity", tz="UTC", **{"from": "2024-09-01", "to": "2024-09-30"}
    )
    assert answer.status_code == 200
    assert answer.json() == [
        {"count": 23, "date": "2024-09-17", "dayOfWeek": 2, "weekNumber": 38},
        {"count": 1, "date": "2024-09-18", "dayOfWeek": 3, "weekNumber": 38},
    ]
    assert "private" in answer.headers["cache-control"]
    messages = get(client, alice, "/api/activity", by="messages", **{"from": "2024-09-18"})
    assert [(d["date"], d["count"]) for d in messages.json()] == [
        ("2024-09-18", 3),
        ("2024-12-31", 1),
    ]
    berlin = get(client, alice, "/api/activity", tz="Europe/Berlin", **{"from": "2024-12-01"})
    assert [d["date"] for d in berlin.json()] == ["2025-01-01"]


@pytest.mark.usefixtures("history")
def test_only_the_callers_library(client: TestClient, bob: Caller) -> None:
    assert get(client, bob, "/api/activity").json() == [
        {"count": 1, "date": "2024-09-17", "dayOfWeek": 2, "weekNumber": 38}
    ]
    raw = get(client, bob, "/api/activity/raw").json()
    assert [c["id"] for c in raw["conversations"]] == ["bobs"]


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"tz": "Nowhere/Special"}, "unknown time zone"),
        ({"from": "17.09.2024"}, "'from' must be a date"),
        ({"to": "2024-02-31"}, "'to' must be a date"),
        ({"from": "2024-05-02", "to": "2024-05-01"}, "is after"),
        ({"by": "words"}, "'by' must be one of"),
    ],
)
@pytest.mark.parametrize(
    "path",
    ["/api/activity", "/api/activity/stats", "/api/activity/hours.svg", "/api/activity/hours.png"],
)
def test_bad_values_are_422_with_a_clear_detail(
    client: TestClient, alice: Caller, path: str, params: dict[str, str], fragment: str
) -> None:
    answer = get(client, alice, path, **params)
    assert answer.status_code == 422
    assert set(answer.json()) == {"detail"} and fragment in answer.json()["detail"]


@pytest.mark.parametrize("path", ["/api/activity/heatmap.svg", "/api/activity/heatmap.png"])
def test_calendar_bad_values(client: TestClient, alice: Caller, path: str) -> None:
    for params in ({"year": "1800"}, {"year": "soon"}, {"tz": "Nowhere/Special"}, {"by": "x"}):
        answer = get(client, alice, path, **params)
        assert answer.status_code == 422 and set(answer.json()) == {"detail"}, params


@pytest.mark.usefixtures("history")
def test_stats(client: TestClient, alice: Caller) -> None:
    stats = get(
        client, alice, "/api/activity/stats", **{"from": "2024-01-01", "to": "2024-12-31"}
    ).json()
    assert (stats["conversations"], stats["messages"], stats["activeDays"]) == (25, 27, 3)
    assert stats["busiestDay"]["date"] == "2024-09-17" and stats["busiestDay"]["count"] == 23
    assert stats["longestStreak"] == {"days": 2, "start": "2024-09-17", "end": "2024-09-18"}
    assert stats["models"][0]["model"] == "gpt-4o"


@pytest.mark.usefixtures("history")
def test_the_calendar_svg(client: TestClient, alice: Caller) -> None:
    answer = get(client, alice, "/api/activity/heatmap.svg", year=2024, tz="UTC")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("image/svg+xml")
    assert answer.headers["content-security-policy"] == "default-src 'none'"
    root = ET.fromstring(answer.text)
    days = root.findall(".//svg:rect[@class='day']", NS)
    assert len(days) == 366
    counts = {d.get("data-date"): d.get("data-count") for d in days}
    assert counts["2024-09-17"] == "23" and counts["2024-09-18"] == "1"
    assert root.findtext("svg:title", namespaces=NS) == "25 conversations in 2024 (UTC)"


@pytest.mark.usefixtures("history")
def test_the_pngs(client: TestClient, alice: Caller) -> None:
    for path in ("/api/activity/heatmap.png", "/api/activity/hours.png"):
        answer = (
            get(client, alice, path, year=2024) if "heatmap" in path else get(client, alice, path)
        )
        assert answer.status_code == 200 and answer.headers["content-type"] == "image/png"
        assert Image.open(io.BytesIO(answer.content)).format == "PNG"


@pytest.mark.usefixtures("history")
def test_the_hours_svg(client: TestClient, alice: Caller) -> None:
    answer = get(
        client,
        alice,
        "/api/activity/hours.svg",
        by="messages",
        **{"from": "2024-09-18", "to": "2024-09-18"},
    )
    cells = ET.fromstring(answer.text).findall(".//svg:rect[@class='hour']", NS)
    busy = [
        (c.get("data-day"), c.get("data-hour"), c.get("data-count"))
        for c in cells
        if c.get("data-count") != "0"
    ]
    assert busy == [("3", "8", "3")]  # Wednesday 08:00


@pytest.mark.usefixtures("history")
def test_the_raw_list_is_the_backend_list(client: TestClient, alice: Caller) -> None:
    raw = orjson.loads(get(client, alice, "/api/activity/raw").content)
    assert list(raw) == [
        "conversations",
        "exportDate",
        "totalCount",
        "failedOffsets",
        "isComplete",
        "expectedTotal",
    ]
    assert (raw["totalCount"], raw["expectedTotal"], raw["isComplete"], raw["failedOffsets"]) == (
        25,
        25,
        True,
        [],
    )
    listed = get(client, alice, "/backend-api/conversations", limit=100).json()["items"]
    assert raw["conversations"] == listed  # the same items, in the same order
