"""Activity: the heatmap data, pictures, stats and raw list export of the caller's library.

Contract (the caller's own conversations only; a token or the session cookie is needed;
every route counts against the ``read`` rate limit):

* ``GET /api/activity?tz&from&to&by`` -> ``[{"count", "date", "dayOfWeek", "weekNumber"}]``,
  the heatmap seed's processed data: one entry per local day with activity, oldest first;
  ``dayOfWeek`` 0 = Sunday, ``weekNumber`` the ISO 8601 week (see :mod:`parley.analytics`);
* ``GET /api/activity/stats`` -> totals, active days, busiest day, longest streak, messages
  per conversation, per-model counts;
* ``GET /api/activity/heatmap.svg|png?year&tz&by`` -> the calendar of one year (default:
  the current year in ``tz``); ``GET /api/activity/hours.svg|png?tz&from&to&by`` -> the
  weekday x hour grid;
* ``GET /api/activity/raw`` -> the seed's raw file ``{"conversations": [list items],
  "exportDate", "totalCount", "failedOffsets", "isComplete", "expectedTotal"}``, streamed.

Parameters: ``tz`` an IANA zone (default UTC), ``from``/``to`` local dates ``YYYY-MM-DD``
(inclusive, open when left out), ``by`` ``conversations`` (default) or ``messages``. A bad
value answers 422 with a ``detail`` naming it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response, StreamingResponse

from parley import analytics, heatmap, rawlist
from parley.analytics import ActivityQuery
from parley.store.db import transaction
from parley.store.users import User
from parley.web import deps
from parley.web.responses import FastJSON

router = APIRouter(tags=["activity"], dependencies=[Depends(deps.rate_limit("read"))])

CurrentUser = Annotated[User, Depends(deps.current_user)]
Tz = Annotated[str | None, Query(description="IANA time zone, e.g. Europe/Berlin (default UTC).")]
From = Annotated[str | None, Query(alias="from", description="First local date, YYYY-MM-DD.")]
To = Annotated[str | None, Query(description="Last local date (inclusive), YYYY-MM-DD.")]
By = Annotated[str | None, Query(description="`conversations` (default) or `messages`.")]
Year = Annotated[int | None, Query(ge=1971, le=2099, description="Default: this year.")]
PRIVATE = {"Cache-Control": "private, no-cache"}
# An SVG opened on its own is a document: let it load and run nothing.
SVG_HEADERS = {**PRIVATE, "Content-Security-Policy": "default-src 'none'"}
RANGE_DOC = (
    " `tz` is an IANA zone (default UTC); `from`/`to` are local dates (YYYY-MM-DD, both "
    "inclusive, open when left out); `by` is `conversations` (counted when created, the "
    "default) or `messages` (visible messages, when sent). Bad values answer 422."
)


def _range(tz: Tz = None, start: From = None, to: To = None, by: By = None) -> ActivityQuery:
    return analytics.parse_query(tz=tz, start=start, end=to, by=by)


def _year(year: Year = None, tz: Tz = None, by: By = None) -> ActivityQuery:
    base = analytics.parse_query(tz=tz, by=by)
    return analytics.year_query(year or datetime.now(base.tz).year, tz=base.tz, by=base.by)


Range = Annotated[ActivityQuery, Depends(_range)]  # the range parameters, parsed once
YearRange = Annotated[ActivityQuery, Depends(_year)]


def calendar_picture(request: Request, user: User, query: ActivityQuery) -> heatmap.Picture:
    """The calendar of the year ``query`` covers, for the API and the /heatmap page."""
    assert query.first is not None
    with transaction(deps.runtime(request).factory) as session:
        days = analytics.daily(session, owner_id=user.id, query=query)
    return heatmap.year_calendar(days, years=[query.first.year], tz=query.tz.key, by=query.by)


def hours_picture(request: Request, user: User, query: ActivityQuery) -> heatmap.Picture:
    with transaction(deps.runtime(request).factory) as session:
        grid = analytics.weekday_hours(session, owner_id=user.id, query=query)
    span = f"{query.first or 'start'} to {query.last or 'now'}"
    return heatmap.week_hours(grid, tz=query.tz.key, by=query.by, span=span)


def _svg(picture: heatmap.Picture) -> Response:
    return Response(heatmap.to_svg(picture), media_type="image/svg+xml", headers=SVG_HEADERS)


def _png(picture: heatmap.Picture) -> Response:
    return Response(heatmap.to_png(picture), media_type="image/png", headers=PRIVATE)


@router.get(
    "/api/activity",
    summary="Activity per day (the heatmap data)",
    description="The caller's activity per local day, oldest first, days without activity "
    'left out: `[{"count": 23, "date": "2024-09-17", "dayOfWeek": 2, "weekNumber": 38}]`. '
    "`dayOfWeek` is 0 for Sunday to 6 for Saturday (JavaScript's getDay); `weekNumber` is "
    "the ISO 8601 week (weeks start on Monday; 2024-12-30 is week 1)." + RANGE_DOC,
)
def activity(request: Request, user: CurrentUser, query: Range) -> FastJSON:
    with transaction(deps.runtime(request).factory) as session:
        days = analytics.daily(session, owner_id=user.id, query=query)
    return FastJSON([day.as_json() for day in days], headers=PRIVATE)


@router.get(
    "/api/activity/stats",
    summary="Activity stats",
    description="Totals (`conversations` created and visible `messages` sent in the range), "
    "`activeDays`, `busiestDay` and `longestStreak` (counted by `by`), "
    "`messagesPerConversation` (mean, median, max over the conversations created in the "
    "range, every stored message counted) and `models` (conversations by default model, "
    "messages by the model that wrote them)." + RANGE_DOC,
)
def stats(request: Request, user: CurrentUser, query: Range) -> FastJSON:
    with transaction(deps.runtime(request).factory) as session:
        result = analytics.stats(session, owner_id=user.id, query=query)
    return FastJSON(result, headers=PRIVATE)


@router.get(
    "/api/activity/heatmap.svg",
    summary="Activity calendar (SVG)",
    description="A GitHub-style calendar of one `year` (default: the current year in `tz`): "
    "a column per week, a square per day coloured by its count, month and weekday labels, "
    "a legend, and a tooltip per day. `tz` and `by` as for `/api/activity`.",
    response_class=Response,
)
def heatmap_svg(request: Request, user: CurrentUser, query: YearRange) -> Response:
    return _svg(calendar_picture(request, user, query))


@router.get(
    "/api/activity/heatmap.png",
    summary="Activity calendar (PNG)",
    description="The calendar of `/api/activity/heatmap.svg` as a PNG (twice the SVG's size).",
    response_class=Response,
)
def heatmap_png(request: Request, user: CurrentUser, query: YearRange) -> Response:
    return _png(calendar_picture(request, user, query))


@router.get(
    "/api/activity/hours.svg",
    summary="Activity by weekday and hour (SVG)",
    description="Seven rows (Sunday first) by 24 local hours, coloured by count, with a "
    "tooltip per cell." + RANGE_DOC,
    response_class=Response,
)
def hours_svg(request: Request, user: CurrentUser, query: Range) -> Response:
    return _svg(hours_picture(request, user, query))


@router.get(
    "/api/activity/hours.png",
    summary="Activity by weekday and hour (PNG)",
    description="The grid of `/api/activity/hours.svg` as a PNG." + RANGE_DOC,
    response_class=Response,
)
def hours_png(request: Request, user: CurrentUser, query: Range) -> Response:
    return _png(hours_picture(request, user, query))


@router.get(
    "/api/activity/raw",
    summary="Raw conversation list (the heatmap seed's raw data)",
    description='`{"conversations": [...], "exportDate", "totalCount", "failedOffsets", '
    '"isComplete", "expectedTotal"}`: every conversation of the caller as ChatGPT lists it '
    "(the items of `GET /backend-api/conversations`), most recently updated first, "
    "streamed. `exportDate` is ISO 8601 UTC with milliseconds.",
    response_class=StreamingResponse,
)
def raw(request: Request, user: CurrentUser) -> StreamingResponse:
    factory = deps.runtime(request).factory

    def body() -> Iterator[bytes]:
        with transaction(factory) as session:
            yield from rawlist.library_raw(session, owner_id=user.id, exported_at=time.time())

    return StreamingResponse(body(), media_type="application/json", headers=PRIVATE)
