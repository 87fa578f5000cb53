"""The heatmap page: a year of activity as a calendar, the weekday x hour grid, and stats.

Contract: ``GET /heatmap?year=Y&tz=ZONE&by=conversations|messages`` (every parameter
optional: the current year in UTC, counting conversations) shows the signed-in user's own
library only; browsers without an account go to ``/login``. The pickers are a plain GET
form (no script). The pictures are inline SVG from :mod:`parley.heatmap` (so their
tooltips work), built only from counts, dates and the validated zone name; the page links
the same pictures as SVG and PNG files and the data as JSON. A bad parameter answers 422.
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlencode
from zoneinfo import available_timezones

from fastapi import APIRouter, Request
from markupsafe import Markup
from starlette.responses import HTMLResponse, RedirectResponse, Response

from parley import analytics, heatmap
from parley.store.activity import SOURCES
from parley.store.db import transaction
from parley.web import deps
from parley.web.pages import signed_in
from parley.web.templating import render_page

router = APIRouter(tags=["pages"])

ZONES = sorted(available_timezones() - {"localtime", "Factory"})


@router.get("/heatmap", response_class=HTMLResponse)
def heatmap_page(
    request: Request, year: int | None = None, tz: str | None = None, by: str | None = None
) -> Response:
    """Your activity: a calendar of one year, weekday x hour, and stats beside them."""
    user = signed_in(request)
    if isinstance(user, RedirectResponse):
        return user
    base = analytics.parse_query(tz=tz, by=by)
    query = analytics.year_query(year or datetime.now(base.tz).year, tz=base.tz, by=base.by)
    assert query.first is not None
    with transaction(deps.runtime(request).factory) as session:
        days = analytics.daily(session, owner_id=user.id, query=query)
        grid = analytics.weekday_hours(session, owner_id=user.id, query=query)
        stats = analytics.stats(session, owner_id=user.id, query=query, days=days)
        years = analytics.active_years(session, owner_id=user.id, tz=query.tz)
    chosen = query.first.year
    zone, source = query.tz.key, query.by
    calendar = heatmap.year_calendar(days, years=[chosen], tz=zone, by=source)
    hours = heatmap.week_hours(grid, tz=zone, by=source, span=str(chosen))
    params = {"tz": zone, "by": source}
    span = {"from": query.first.isoformat(), "to": str(query.last)}
    return render_page(
        request,
        "heatmap.html",
        user=user,
        headers={"Cache-Control": "private, no-store"},
        year=chosen,
        years=sorted({*years, chosen, datetime.now(query.tz).year}, reverse=True),
        tz=zone,
        zones=ZONES,
        by=source,
        sources=SOURCES,
        stats=stats,
        # Markup: generated from counts, dates and a validated zone name, every text escaped
        calendar_svg=Markup(heatmap.to_svg(calendar)),
        hours_svg=Markup(heatmap.to_svg(hours)),
        links={
            "calendar_svg": "/api/activity/heatmap.svg?" + urlencode({"year": chosen, **params}),
            "calendar_png": "/api/activity/heatmap.png?" + urlencode({"year": chosen, **params}),
            "hours_svg": "/api/activity/hours.svg?" + urlencode({**span, **params}),
            "json": "/api/activity?" + urlencode({**span, **params}),
            "stats": "/api/activity/stats?" + urlencode({**span, **params}),
        },
    )
