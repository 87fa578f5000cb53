"""``parley.web.routing``: flat routes and the first-segment index pick what a scan would."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from starlette.responses import PlainTextResponse

from parley.web.routing import RouteIndex, include, install_index


def app_with_routes() -> FastAPI:
    app = FastAPI()
    first = APIRouter()

    @first.get("/things/special")
    def special() -> PlainTextResponse:
        return PlainTextResponse("special")

    @first.get("/things/{name}")
    def thing(name: str) -> PlainTextResponse:
        return PlainTextResponse(f"thing {name}")

    second = APIRouter()

    @second.get("/{anything}")
    def catch_all(anything: str) -> PlainTextResponse:
        return PlainTextResponse(f"catch {anything}")

    @second.post("/things/posted")
    def posted() -> PlainTextResponse:
        return PlainTextResponse("posted")

    include(app, first)
    include(app, second)
    install_index(app)
    return app


def test_the_first_route_in_order_wins() -> None:
    client = TestClient(app_with_routes())
    assert client.get("/things/special").text == "special"
    assert client.get("/things/other").text == "thing other"
    assert client.get("/things").text == "catch things"  # a parameter as first segment
    assert client.get("/elsewhere").text == "catch elsewhere"
    assert client.post("/things/posted").text == "posted"


def test_what_no_route_takes_goes_to_the_router() -> None:
    client = TestClient(app_with_routes())
    assert client.get("/things/special/deeper").status_code == 404
    answer = client.delete("/things/special")
    assert answer.status_code == 405  # the router's own answer, with Allow
    assert "GET" in answer.headers["allow"]


def test_routes_added_later_are_indexed() -> None:
    app = app_with_routes()

    @app.get("/late/route")
    def late() -> PlainTextResponse:
        return PlainTextResponse("late")

    assert TestClient(app).get("/late/route").text == "late"
    assert isinstance(app.router.middleware_stack, RouteIndex)


def test_the_app_keeps_every_route_flat_and_documented(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from parley.config import Settings
    from parley.web.app import create_app

    app = create_app(Settings(home=tmp_path, admin_key="k" * 24))
    assert not any(hasattr(route, "original_router") for route in app.router.routes)
    paths = set(app.openapi()["paths"])
    assert {"/backend-api/conversations", "/v1/chat/completions", "/api/ask"} <= paths
