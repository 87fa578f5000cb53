"""``parley heatmap``: JSON, SVG, PNG and the raw list, written to files or stdout."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from parley.cli.main import app
from tests.support.timeline import at, chat, store_all

runner = CliRunner()
NS = {"svg": "http://www.w3.org/2000/svg"}


@pytest.fixture(autouse=True)
def _library(store_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("PARLEY_DATABASE_URL", store_url)
    return store_url


@pytest.fixture
def history(factory: sessionmaker[Session], owner_id: str) -> None:
    items = [chat(f"a{i}", at("2024-09-17 00:00") + i * 3000) for i in range(23)]
    items += [chat("b", at("2024-09-18 12:00")), chat("old", at("2023-02-01 12:00"))]
    store_all(factory, owner_id, items)


def invoke(*args: str) -> Any:
    return runner.invoke(app, list(args))


@pytest.mark.usefixtures("history")
def test_json_is_the_seeds_processed_data(tmp_path: Path) -> None:
    out = tmp_path / "days.json"
    result = invoke("heatmap", "--format", "json", "--year", "2024", "--output", str(out))
    assert result.exit_code == 0, result.output
    assert orjson.loads(out.read_bytes()) == [
        {"count": 23, "date": "2024-09-17", "dayOfWeek": 2, "weekNumber": 38},
        {"count": 1, "date": "2024-09-18", "dayOfWeek": 3, "weekNumber": 38},
    ]
    stdout = invoke(
        "heatmap", "-f", "json", "--from", "2023-01-01", "--to", "2023-12-31", "--tz", "Asia/Tokyo"
    )
    assert orjson.loads(stdout.stdout) == [
        {"count": 1, "date": "2023-02-01", "dayOfWeek": 3, "weekNumber": 5}
    ]


@pytest.mark.usefixtures("history")
def test_svg_has_a_band_per_year_with_activity(tmp_path: Path) -> None:
    out = tmp_path / "all.svg"
    assert invoke("heatmap", "--output", str(out)).exit_code == 0
    root = ET.parse(out).getroot()
    assert [g.get("data-year") for g in root.iterfind(".//svg:g[@class='year']", NS)] == [
        "2023",
        "2024",
    ]
    single = ET.fromstring(invoke("heatmap", "--year", "2024", "--by", "messages").stdout)
    assert len(single.findall(".//svg:rect[@class='day']", NS)) == 366


@pytest.mark.usefixtures("history")
def test_png_and_the_hours_chart(tmp_path: Path) -> None:
    png = tmp_path / "cal.png"
    assert invoke("heatmap", "--format", "png", "--year", "2024", "-o", str(png)).exit_code == 0
    assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    hours = ET.fromstring(invoke("heatmap", "--chart", "hours", "--year", "2024").stdout)
    cells = hours.findall(".//svg:rect[@class='hour']", NS)
    assert len(cells) == 168 and sum(int(c.get("data-count") or 0) for c in cells) == 24


@pytest.mark.usefixtures("history")
def test_raw_is_the_seeds_raw_data(tmp_path: Path) -> None:
    out = tmp_path / "raw.json"
    assert invoke("heatmap", "--raw", "--output", str(out)).exit_code == 0
    raw = orjson.loads(out.read_bytes())
    assert list(raw) == [
        "conversations",
        "exportDate",
        "totalCount",
        "failedOffsets",
        "isComplete",
        "expectedTotal",
    ]
    assert raw["totalCount"] == raw["expectedTotal"] == 25 and raw["isComplete"] is True
    assert raw["conversations"][0]["id"] == "b" and raw["conversations"][0]["mapping"] is None


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("--tz", "Moon/Base"), "unknown time zone"),
        (("--from", "2024-9-1"), "must be a date"),
        (("--by", "words"), "'by' must be one of"),
        (("--format", "gif"), "choose one of svg, png, json"),
        (("--chart", "pie"), "choose one of calendar, hours"),
        (("--year", "2024", "--from", "2024-01-01"), "not both"),
    ],
)
def test_bad_options_exit_2_with_a_message(args: tuple[str, ...], fragment: str) -> None:
    result = invoke("heatmap", *args)
    assert result.exit_code == 2
    assert fragment in " ".join(result.output.split())
