"""``parley.heatmap``: the SVG parsed as XML (days, labels, legend, tooltips, escaping), the PNG."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from datetime import date, timedelta

import pytest
from PIL import Image

from parley import heatmap
from parley.analytics import DayCount

NS = {"svg": "http://www.w3.org/2000/svg"}


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def year_days(year: int) -> list[date]:
    first = date(year, 1, 1)
    return [first + timedelta(days=i) for i in range((date(year + 1, 1, 1) - first).days)]


def texts(root: ET.Element, css: str) -> list[str]:
    return [t.text or "" for t in root.iterfind(f".//svg:text[@class='{css}']", NS)]


@pytest.mark.parametrize("year", [2023, 2024])
def test_one_square_per_day_in_week_columns(year: int) -> None:
    counts = {date(year, 9, 17): 23, date(year, 9, 18): 2}
    root = parse(heatmap.to_svg(heatmap.calendar(counts, years=[year], title="t")))
    days = root.findall(".//svg:g[@class='year']/svg:rect[@class='day']", NS)
    assert len(days) == len(year_days(year))
    assert [d.get("data-date") for d in days] == [d.isoformat() for d in year_days(year)]
    by_date = {d.get("data-date"): d for d in days}
    assert by_date[f"{year}-09-17"].get("data-count") == "23"
    assert by_date[f"{year}-01-01"].get("data-count") == "0"
    # Sunday on top, a column per week: the 7 days of a week share x, y grows with the weekday
    sunday = date(year, 9, 15) - timedelta(days=date(year, 9, 15).isoweekday() % 7)
    week = [by_date[(sunday + timedelta(days=i)).isoformat()] for i in range(7)]
    sunday_first = sorted(week, key=lambda d: float(d.get("y") or 0))
    assert date.fromisoformat(sunday_first[0].get("data-date") or "").isoweekday() == 7
    assert len({d.get("x") for d in week}) == 1


def test_tooltips_carry_the_counts() -> None:
    root = parse(
        heatmap.to_svg(
            heatmap.calendar(
                {date(2024, 9, 17): 23, date(2024, 9, 18): 1},
                years=[2024],
                unit="messages",
                title="t",
            )
        )
    )
    tips = {
        d.get("data-date"): d.findtext("svg:title", namespaces=NS)
        for d in root.iterfind(".//svg:rect[@class='day']", NS)
    }
    assert tips["2024-09-17"] == "23 messages on Tue 2024-09-17"
    assert tips["2024-09-18"] == "1 message on Wed 2024-09-18"
    assert tips["2024-09-19"] == "No messages on Thu 2024-09-19"


def test_month_and_weekday_labels() -> None:
    root = parse(heatmap.to_svg(heatmap.calendar({}, years=[2024], title="t")))
    assert texts(root, "month") == list(heatmap.MONTHS)
    assert texts(root, "weekday") == ["Mon", "Wed", "Fri"]
    assert texts(root, "year-label") == ["2024"]
    jan, feb = root.findall(".//svg:text[@class='month']", NS)[:2]
    assert float(jan.get("x") or 0) < float(feb.get("x") or 0)


def test_a_band_per_year() -> None:
    root = parse(heatmap.to_svg(heatmap.calendar({}, years=[2023, 2024], title="t")))
    bands = root.findall(".//svg:g[@class='year']", NS)
    assert [b.get("data-year") for b in bands] == ["2023", "2024"]
    assert [len(b.findall("svg:rect", NS)) for b in bands] == [365, 366]
    assert texts(root, "month") == list(heatmap.MONTHS) * 2


def test_the_legend_has_five_levels_with_their_ranges() -> None:
    counts = {day: (i % 40) for i, day in enumerate(year_days(2024))}
    root = parse(heatmap.to_svg(heatmap.calendar(counts, years=[2024], title="t")))
    levels = root.findall(".//svg:g[@class='legend']/svg:rect[@class='legend-level']", NS)
    assert [lv.get("data-level") for lv in levels] == ["0", "1", "2", "3", "4"]
    assert [lv.get("fill") for lv in levels] == list(heatmap.COLOURS)
    tips = [lv.findtext("svg:title", namespaces=NS) for lv in levels]
    bounds = heatmap.thresholds(list(counts.values()))
    assert tips[0] == "no conversations" and tips[-1] == f"more than {bounds[2]} conversations"
    assert texts(root, "legend-text") == ["Less", "More"]
    fills = {
        d.get("data-count"): d.get("fill") for d in root.iterfind(".//svg:rect[@class='day']", NS)
    }
    assert fills["0"] == heatmap.COLOURS[0] and fills["39"] == heatmap.COLOURS[4]


def test_levels_split_at_quartiles_and_ignore_one_outlier() -> None:
    counts = [0, 1, 2, 3, 4, 5, 6, 7, 8, 1000]
    bounds = heatmap.thresholds(counts)
    assert bounds[0] < bounds[1] < bounds[2] < 1000
    assert bounds == (3, 5, 7)  # quartiles of 1..8 and 1000
    assert [heatmap.level(c, bounds) for c in (0, 1, 3, 4, 6, 8, 1000)] == [0, 1, 1, 2, 3, 4, 4]
    assert heatmap.thresholds([0, 0]) == (1, 2, 3) and heatmap.thresholds([5, 5, 5]) == (5, 6, 7)


def test_the_weekday_hour_grid() -> None:
    grid = [[0] * 24 for _ in range(7)]
    grid[2][14] = 12
    root = parse(heatmap.to_svg(heatmap.hours(grid, title="t")))
    cells = root.findall(".//svg:g[@class='hours']/svg:rect[@class='hour']", NS)
    assert len(cells) == 7 * 24
    cell = next(c for c in cells if c.get("data-day") == "2" and c.get("data-hour") == "14")
    assert cell.get("data-count") == "12"
    assert cell.findtext("svg:title", namespaces=NS) == "Tue 14:00-15:00: 12 messages"
    assert texts(root, "weekday") == list(heatmap.WEEKDAYS)
    assert texts(root, "hour-label") == ["00", "03", "06", "09", "12", "15", "18", "21"]
    assert root.find(".//svg:g[@class='legend']", NS) is not None


def test_text_is_escaped_and_nothing_active_is_emitted() -> None:
    hostile = '<script>alert(1)</script> & "quoted" \x00\x1b end'
    svg = heatmap.to_svg(heatmap.calendar({}, years=[2024], unit=hostile, title=hostile))
    root = parse(svg)  # well-formed despite the title
    assert root.findtext("svg:title", namespaces=NS) == '<script>alert(1)</script> & "quoted"  end'
    assert texts(root, "title") == ['<script>alert(1)</script> & "quoted"  end']
    lowered = svg.lower()
    assert "<script" not in lowered and "<style" not in lowered and "href" not in lowered
    assert " on" not in lowered.replace(" on ", "")  # no event handler attributes
    assert root.tag == "{http://www.w3.org/2000/svg}svg" and root.get("role") == "img"


def test_pictures_of_analytics_results() -> None:
    picture = heatmap.year_calendar(
        [DayCount(date(2024, 9, 17), 23), DayCount(date(2023, 5, 1), 9)],
        years=[2024],
        tz="Europe/Berlin",
        by="conversations",
    )
    root = parse(heatmap.to_svg(picture))
    assert root.findtext("svg:title", namespaces=NS) == "23 conversations in 2024 (Europe/Berlin)"
    week = heatmap.week_hours([[1] * 24] * 7, tz="UTC", by="messages", span="2024")
    assert week.title == "168 messages by weekday and hour, 2024 (UTC)"


def test_png_has_the_svg_size_times_the_scale() -> None:
    counts = {date(2024, 9, d): d for d in range(1, 20)}  # 19 is above the third quartile
    picture = heatmap.calendar(counts, years=[2024], title="Activity")
    image = Image.open(io.BytesIO(heatmap.to_png(picture, scale=2)))
    assert image.format == "PNG"
    assert image.size == (int(picture.width * 2), int(picture.height * 2))
    box = next(b for g in picture.groups for b in g.boxes if ("data-date", "2024-09-19") in b.data)
    centre = (int((box.x + box.size / 2) * 2), int((box.y + box.size / 2) * 2))
    assert image.convert("RGB").getpixel(centre) == Image.new(
        "RGB", (1, 1), heatmap.COLOURS[4]
    ).getpixel((0, 0))
