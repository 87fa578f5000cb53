"""``/robots.txt`` and ``/sitemap.xml`` for search engines.

Contract:

* ``/sitemap.xml`` lists the explore page and the page of every *public* share (newest
  first, at most :data:`SITEMAP_LIMIT`, the protocol's maximum); private and unlisted
  shares never appear. URLs are absolute, built on ``settings.base_url``;
* ``/robots.txt`` allows share pages and explore, disallows the personal and API paths,
  and names the sitemap.
"""

from __future__ import annotations

import time
from xml.sax.saxutils import escape

from fastapi import APIRouter, Request
from starlette.responses import PlainTextResponse, Response

from parley.store import shares
from parley.store.db import transaction
from parley.web import deps
from parley.web.templating import isotime

router = APIRouter(tags=["pages"])

SITEMAP_LIMIT = 50_000
DISALLOWED = (
    "/library",
    "/login",
    "/signup",
    "/logout",
    "/auth/",
    "/api/",
    "/backend-api/",
    "/admin/",
    "/conversations",
    "/v1/",
    "/client/",
)


@router.get("/sitemap.xml", response_class=Response)
def sitemap(request: Request) -> Response:
    """The public shares, as a sitemap for search engines (unlisted and private never)."""
    rt = deps.runtime(request)
    with transaction(rt.factory) as session:
        public = shares.feed_page(
            session, kind="new", offset=0, limit=SITEMAP_LIMIT, now=time.time()
        )
    base = rt.settings.base_url
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">',
        f"<url><loc>{escape(base)}/explore</loc><changefreq>hourly</changefreq></url>",
    ]
    for item in public:
        lastmod = isotime(item.created_at)
        lines.append(
            f"<url><loc>{escape(f'{base}/c/{item.id}')}</loc>"
            + (f"<lastmod>{lastmod}</lastmod>" if lastmod else "")
            + "</url>"
        )
    lines.append("</urlset>")
    return Response("\n".join(lines) + "\n", media_type="application/xml")


@router.get("/robots.txt", response_class=PlainTextResponse)
def robots(request: Request) -> PlainTextResponse:
    """Crawling rules: share pages and explore yes, personal pages and APIs no."""
    base = deps.runtime(request).settings.base_url
    lines = ["User-agent: *", "Allow: /c/", "Allow: /explore"]
    lines += [f"Disallow: {path}" for path in DISALLOWED]
    lines.append(f"Sitemap: {base}/sitemap.xml")
    return PlainTextResponse("\n".join(lines) + "\n")
