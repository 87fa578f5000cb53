"""robots.txt and sitemap.xml: public shares only."""

from __future__ import annotations

from xml.etree import ElementTree

from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.support.pages import share
from tests.web.conftest import Caller

NS = "{http://www.sitemaps.org/schemas/sitemap/0.9}"


def test_sitemap_lists_public_shares_only(app: FastAPI, client: TestClient, alice: Caller) -> None:
    public = share(app, alice, "pub", "public")
    unlisted = share(app, alice, "unl", "unlisted")
    private = share(app, alice, "pri", "private")
    answer = client.get("/sitemap.xml")
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/xml"
    root = ElementTree.fromstring(answer.content)
    urls = [loc.text for loc in root.iter(f"{NS}loc")]
    assert urls == ["http://127.0.0.1:8080/explore", f"http://127.0.0.1:8080/c/{public.id}"]
    assert unlisted.id not in answer.text and private.id not in answer.text
    lastmods = [node.text for node in root.iter(f"{NS}lastmod")]
    assert len(lastmods) == 1 and lastmods[0] and lastmods[0].endswith("Z")


def test_robots(client: TestClient) -> None:
    lines = client.get("/robots.txt").text.splitlines()
    assert "Allow: /c/" in lines and "Disallow: /library" in lines and "Disallow: /api/" in lines
    assert lines[-1] == "Sitemap: http://127.0.0.1:8080/sitemap.xml"
