"""Heatmap pictures: a GitHub-style calendar and a weekday x hour grid, as SVG and PNG.

Both pictures are first laid out as boxes and labels (:class:`Picture`), then written as
SVG (:func:`to_svg`) or drawn with Pillow (:func:`to_png`), so the two formats agree.

SVG contract (the tests parse it with ``xml.etree``):

* ``<svg xmlns="http://www.w3.org/2000/svg" role="img" width height viewBox>`` whose first
  child is a ``<title>``;
* calendar: per year, ``<g class="year" data-year="2024">`` with one
  ``<rect class="day" data-date="2024-09-17" data-count="23">`` per day of the year (weeks
  are columns, Sunday on top, as on GitHub), each holding a ``<title>`` tooltip such as
  "23 conversations on Tue 2024-09-17"; ``<text class="month">`` Jan..Dec above the week
  in which each month starts, ``<text class="weekday">`` Mon, Wed, Fri on the left and
  ``<text class="year-label">``;
* weekday x hour: ``<rect class="hour" data-day="2" data-hour="14" data-count="12">``
  (``data-day`` 0 = Sunday, as ``dayOfWeek``) with a tooltip "Tue 14:00-15:00: 12
  messages", ``<text class="weekday">`` Sun..Sat and ``<text class="hour-label">`` every
  three hours;
* a legend ``<g class="legend">``: "Less", five ``<rect class="legend-level"
  data-level="0..4">`` whose tooltips give each colour's range, "More".

Colours: level 0 is an empty day; levels 1-4 split the non-zero counts at their quartiles,
so one outlier day does not wash the rest out. Every text and attribute is XML-escaped
and stripped of characters XML cannot hold; there is no script, style element or
external reference, so the SVG is safe inline and as an ``<img>``.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Literal
from xml.sax.saxutils import escape

from PIL import Image, ImageDraw, ImageFont

from parley.analytics import DayCount

COLOURS = ("#ebedf0", "#9be9a8", "#40c463", "#30a14e", "#216e39")
TEXT_COLOUR = "#57606a"
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
WEEKDAYS = ("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat")
CELL, STEP = 11, 13  # calendar square and pitch
HOUR_CELL, HOUR_STEP = 16, 18
LEFT, TOP, FONT = 34, 26, 10
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")

Anchor = Literal["start", "middle", "end"]


@dataclass(frozen=True)
class Box:
    x: float
    y: float
    size: float
    level: int
    css: str
    tooltip: str
    data: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Label:
    x: float
    y: float  # the text's baseline
    text: str
    css: str
    anchor: Anchor = "start"


@dataclass
class Group:
    css: str  # "year", "hours" or "legend"
    data: tuple[tuple[str, str], ...] = ()
    boxes: list[Box] = field(default_factory=list)


@dataclass
class Picture:
    width: float
    height: float
    title: str
    groups: list[Group] = field(default_factory=list)
    labels: list[Label] = field(default_factory=list)


def thresholds(counts: Sequence[int]) -> tuple[int, int, int]:
    """Upper bounds of levels 1-3 (level 4 is above): quartiles of the non-zero counts."""
    values = sorted(c for c in counts if c > 0)
    if not values:
        return (1, 2, 3)
    picks = [values[min(len(values) - 1, (len(values) * q) // 4)] for q in (1, 2, 3)]
    out: list[int] = []
    for pick in picks:
        out.append(max(pick, out[-1] + 1 if out else 1))
    return out[0], out[1], out[2]


def level(count: int, bounds: tuple[int, int, int]) -> int:
    if count <= 0:
        return 0
    return next((i + 1 for i, bound in enumerate(bounds) if count <= bound), 4)


def _plural(count: int, unit: str) -> str:
    word = unit[:-1] if count == 1 and unit.endswith("s") else unit
    return f"{count:,} {word}"


def _span(low: int, high: int) -> str:
    return f"{low:,}" if low == high else f"{low:,}-{high:,}"


def _legend(picture: Picture, bounds: tuple[int, int, int], unit: str, x: float, y: float) -> None:
    """The legend, "Less [] [] [] [] [] More", right-aligned to ``x``, from ``y`` down."""
    tips = [
        f"no {unit}",
        f"{_span(1, bounds[0])} {unit}",
        f"{_span(bounds[0] + 1, bounds[1])} {unit}",
        f"{_span(bounds[1] + 1, bounds[2])} {unit}",
        f"more than {bounds[2]:,} {unit}",
    ]
    start = x - 5 * STEP - 28
    legend = Group("legend")
    picture.groups.append(legend)
    picture.labels.append(Label(start - 4, y + CELL - 1, "Less", "legend-text", "end"))
    for i, tip in enumerate(tips):
        data = (("data-level", str(i)),)
        legend.boxes.append(Box(start + i * STEP, y, CELL, i, "legend-level", tip, data))
    picture.labels.append(Label(start + 5 * STEP + 2, y + CELL - 1, "More", "legend-text"))


def calendar(
    days: Mapping[date, int], *, years: Sequence[int], unit: str = "conversations", title: str
) -> Picture:
    """A band of week columns per year (oldest on top), with month and weekday labels."""
    bounds = thresholds(list(days.values()))
    band = 20 + 7 * STEP
    width = LEFT + 54 * STEP + 10
    picture = Picture(width, TOP + band * max(1, len(years)) + 30, title)
    picture.labels.append(Label(LEFT, 14, title, "title"))
    for index, year in enumerate(years):
        top = TOP + index * band + 14
        first = date(year, 1, 1)
        sunday = first - timedelta(days=first.isoweekday() % 7)
        picture.labels.append(Label(2, top - 4, str(year), "year-label"))
        for row, name in ((1, "Mon"), (3, "Wed"), (5, "Fri")):
            picture.labels.append(Label(LEFT - 4, top + row * STEP + 9, name, "weekday", "end"))
        group = Group("year", (("data-year", str(year)),))
        picture.groups.append(group)
        day = first
        while day.year == year:
            column = (day - sunday).days // 7
            row = day.isoweekday() % 7
            x, y = LEFT + column * STEP, top + row * STEP
            if day.day == 1:
                picture.labels.append(Label(x, top - 4, MONTHS[day.month - 1], "month"))
            count = days.get(day, 0)
            tip = f"{_plural(count, unit)} on {WEEKDAYS[row]} {day.isoformat()}"
            if not count:
                tip = f"No {unit} on {WEEKDAYS[row]} {day.isoformat()}"
            data = (("data-date", day.isoformat()), ("data-count", str(count)))
            group.boxes.append(Box(x, y, CELL, level(count, bounds), "day", tip, data))
            day += timedelta(days=1)
    _legend(picture, bounds, unit, width - 10, picture.height - 22)
    return picture


def hours(grid: Sequence[Sequence[int]], *, unit: str = "messages", title: str) -> Picture:
    """Seven rows (Sunday first) by 24 hour columns, counts in local time."""
    bounds = thresholds([c for row in grid for c in row])
    left, top = LEFT + 4, TOP + 16
    width = left + 24 * HOUR_STEP + 10
    picture = Picture(width, top + 7 * HOUR_STEP + 36, title)
    picture.labels.append(Label(left, 14, title, "title"))
    cells = Group("hours")
    picture.groups.append(cells)
    for hour in range(0, 24, 3):
        x = left + hour * HOUR_STEP + HOUR_CELL / 2
        picture.labels.append(Label(x, top - 5, f"{hour:02d}", "hour-label", "middle"))
    for day in range(7):
        y = top + day * HOUR_STEP
        picture.labels.append(Label(left - 4, y + 12, WEEKDAYS[day], "weekday", "end"))
        for hour in range(24):
            count = grid[day][hour]
            span = f"{WEEKDAYS[day]} {hour:02d}:00-{(hour + 1) % 24:02d}:00"
            data = (("data-day", str(day)), ("data-hour", str(hour)), ("data-count", str(count)))
            tip = f"{span}: {_plural(count, unit)}"
            x = left + hour * HOUR_STEP
            cells.boxes.append(Box(x, y, HOUR_CELL, level(count, bounds), "hour", tip, data))
    _legend(picture, bounds, unit, width - 10, picture.height - 22)
    return picture


def clean(text: str) -> str:
    """``text`` without the characters XML 1.0 cannot hold."""
    return _NOT_XML.sub("", text)


def _attr(value: object) -> str:
    return '"' + escape(clean(str(value)), {'"': "&quot;"}) + '"'


def _svg_box(box: Box) -> str:
    attrs = "".join(f" {name}={_attr(value)}" for name, value in box.data)
    return (
        f"<rect class={_attr(box.css)} x={_attr(box.x)} y={_attr(box.y)} "
        f'width={_attr(box.size)} height={_attr(box.size)} rx="2" '
        f"fill={_attr(COLOURS[box.level])}{attrs}><title>{escape(clean(box.tooltip))}</title></rect>"
    )


def to_svg(picture: Picture) -> str:
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width={_attr(picture.width)} '
        f"height={_attr(picture.height)} viewBox={_attr(f'0 0 {picture.width} {picture.height}')} "
        f'font-family="-apple-system, Segoe UI, Helvetica, Arial, sans-serif" '
        f'font-size="{FONT}" fill="{TEXT_COLOUR}">',
        f"<title>{escape(clean(picture.title))}</title>",
    ]
    for group in picture.groups:
        attrs = "".join(f" {name}={_attr(value)}" for name, value in group.data)
        out.append(f"<g class={_attr(group.css)}{attrs}>")
        out += [_svg_box(box) for box in group.boxes]
        out.append("</g>")
    for label in picture.labels:
        out.append(
            f"<text class={_attr(label.css)} x={_attr(label.x)} y={_attr(label.y)} "
            f"text-anchor={_attr(label.anchor)}>{escape(clean(label.text))}</text>"
        )
    out.append("</svg>")
    return "\n".join(out)


_PIL_ANCHOR = {"start": "ls", "middle": "ms", "end": "rs"}


def to_png(picture: Picture, *, scale: int = 2) -> bytes:
    """The same picture as a PNG, ``scale`` pixels per SVG unit (2: sharp on HiDPI)."""
    image = Image.new("RGB", (int(picture.width * scale), int(picture.height * scale)), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=FONT * scale)
    for box in (box for group in picture.groups for box in group.boxes):
        x, y, size = box.x * scale, box.y * scale, box.size * scale
        draw.rounded_rectangle(
            (x, y, x + size - 1, y + size - 1), radius=2 * scale, fill=COLOURS[box.level]
        )
    for label in picture.labels:
        draw.text(
            (label.x * scale, label.y * scale),
            clean(label.text),
            fill=TEXT_COLOUR,
            font=font,
            anchor=_PIL_ANCHOR[label.anchor],
        )
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


# -- pictures of analytics results --------------------------------------------------------


def year_calendar(days: Iterable[DayCount], *, years: Sequence[int], tz: str, by: str) -> Picture:
    """The calendar of ``years`` from per-day counts, titled with the total."""
    counts = {entry.day: entry.count for entry in days if entry.day.year in years}
    span = f"{years[0]}" if len(years) == 1 else f"{years[0]}-{years[-1]}"
    title = f"{_plural(sum(counts.values()), by)} in {span} ({tz})"
    return calendar(counts, years=years, unit=by, title=title)


def week_hours(grid: Sequence[Sequence[int]], *, tz: str, by: str, span: str) -> Picture:
    """The weekday x hour grid titled with what it counts, where and when."""
    total = sum(sum(row) for row in grid)
    title = f"{_plural(total, by)} by weekday and hour, {span} ({tz})"
    return hours(grid, unit=by, title=title)
