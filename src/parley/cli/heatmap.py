"""``parley heatmap``: the activity heatmap of the library as SVG, PNG or JSON, or the raw
conversation list (the heatmap seed's two exports).

* ``--format json``: the per-day counts ``[{"count", "date", "dayOfWeek", "weekNumber"}]``
  (see :mod:`parley.analytics`);
* ``--format svg|png``: the calendar, one band of weeks per year (``--year``, else every
  year of ``--from``/``--to``, else every year with activity); ``--chart hours`` draws the
  weekday x hour grid instead;
* ``--raw``: the raw list ``{"conversations", "exportDate", "totalCount", "failedOffsets",
  "isComplete", "expectedTotal"}`` of the whole library.

``--output -`` (the default) writes to standard output.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated

import orjson
import typer

from parley import analytics, heatmap, rawlist
from parley.analytics import ActivityQuery
from parley.cli.context import err_console, exits_cleanly, get_context
from parley.cli.transfer import UserOption

FORMATS = ("svg", "png", "json")
CHARTS = ("calendar", "hours")


def _write(output: str, chunks: Iterable[bytes]) -> None:
    if output == "-":
        for chunk in chunks:
            sys.stdout.buffer.write(chunk)
        sys.stdout.buffer.flush()
        return
    with Path(output).open("wb") as out:
        out.writelines(chunks)
    err_console.print(f"wrote {output}")


def _query(
    year: int | None, tz: str | None, start: str | None, end: str | None, by: str
) -> ActivityQuery:
    if year is not None and (start or end):
        raise typer.BadParameter("give --year or --from/--to, not both", param_hint="--year")
    base = analytics.parse_query(tz=tz, start=start, end=end, by=by)
    return analytics.year_query(year, tz=base.tz, by=base.by) if year is not None else base


def heatmap_command(
    year: Annotated[int | None, typer.Option(help="One calendar year.", show_default=False)] = None,
    tz: Annotated[
        str | None, typer.Option(help="IANA time zone, e.g. Europe/Berlin (default UTC).")
    ] = None,
    by: Annotated[str, typer.Option(help="Count conversations or messages.")] = "conversations",
    start: Annotated[
        str | None, typer.Option("--from", help="First local date (YYYY-MM-DD).")
    ] = None,
    end: Annotated[
        str | None, typer.Option("--to", help="Last local date, inclusive (YYYY-MM-DD).")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="svg, png or json.")] = "svg",
    chart: Annotated[str, typer.Option(help="calendar or hours (weekday x hour).")] = "calendar",
    raw: Annotated[
        bool, typer.Option("--raw", help="Write the raw conversation list instead.")
    ] = False,
    output: Annotated[str, typer.Option("--output", "-o", help="File, or - for stdout.")] = "-",
    user: UserOption = None,
) -> None:
    """Draw the library's activity heatmap, or export the per-day counts or the raw list.

    Days are local days in --tz; dayOfWeek 0 is Sunday and weekNumber the ISO week.
    """
    if fmt not in FORMATS:
        raise typer.BadParameter(f"choose one of {', '.join(FORMATS)}", param_hint="--format")
    if chart not in CHARTS:
        raise typer.BadParameter(f"choose one of {', '.join(CHARTS)}", param_hint="--chart")
    if fmt == "png" and output == "-" and sys.stdout.isatty():
        raise typer.BadParameter("a PNG needs a file", param_hint="--output")
    ctx = get_context()
    with exits_cleanly():
        query = _query(year, tz, start, end, by)
        owner_id = ctx.user_id(user)
        with ctx.session() as session:
            if raw:
                chunks = list(
                    rawlist.library_raw(session, owner_id=owner_id, exported_at=time.time())
                )
                _write(output, chunks)
                return
            if chart == "hours" and fmt != "json":
                grid = analytics.weekday_hours(session, owner_id=owner_id, query=query)
                span = f"{query.first or 'start'} to {query.last or 'now'}"
                picture = heatmap.week_hours(grid, tz=query.tz.key, by=query.by, span=span)
            else:
                days = analytics.daily(session, owner_id=owner_id, query=query)
                if fmt == "json":
                    _write(output, [orjson.dumps([d.as_json() for d in days]) + b"\n"])
                    return
                years = _years(query, days)
                picture = heatmap.year_calendar(days, years=years, tz=query.tz.key, by=query.by)
    body = heatmap.to_png(picture) if fmt == "png" else heatmap.to_svg(picture).encode()
    _write(output, [body])


def _years(query: ActivityQuery, days: list[analytics.DayCount]) -> list[int]:
    first = query.first.year if query.first else (days[0].day.year if days else None)
    last = query.last.year if query.last else (days[-1].day.year if days else None)
    if first is None or last is None:
        return [time.gmtime().tm_year]
    return list(range(first, last + 1))
