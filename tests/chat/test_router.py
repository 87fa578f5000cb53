"""The backend registry: configuration (environment and TOML), routing, fallbacks."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from parley.chat.backends.base import BackendError, ChatRequest
from parley.chat.backends.openai import OpenAIBackend
from parley.chat.router import HOW_TO_CONFIGURE, BackendRegistry
from parley.config import Settings
from parley.errors import Unavailable
from tests.support.fake_openai import FakeOpenAI, Reply
from tests.support.live_server import free_port

pytestmark = pytest.mark.anyio


@pytest.fixture
def second() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(models=("local-model",)) as server:
        yield server


async def answer(registry: BackendRegistry, model: str) -> str:
    request = ChatRequest(model=model, messages=[{"role": "user", "content": "q"}])
    return "".join([chunk.text async for chunk in registry.stream(request)])


def test_the_environment_makes_one_backend(settings: Settings) -> None:
    configured = settings.model_copy(
        update={"openai_base_url": "http://127.0.0.1:1/v1", "openai_api_key": "k"}
    )
    registry = BackendRegistry.from_settings(configured)
    assert registry.names == ["default"]
    backend = registry.get("default")
    assert isinstance(backend, OpenAIBackend) and backend.base_url == "http://127.0.0.1:1/v1"


async def test_no_backend_is_a_503_that_says_how_to_configure_one() -> None:
    registry = BackendRegistry()
    with pytest.raises(Unavailable) as caught:
        await registry.resolve_model(None)
    assert caught.value.detail == HOW_TO_CONFIGURE
    assert "PARLEY_OPENAI_BASE_URL" in caught.value.detail
    with pytest.raises(Unavailable):
        await registry.candidates("gpt-4o")


async def test_models_go_to_the_backends_that_list_them(
    fake: FakeOpenAI, second: FakeOpenAI
) -> None:
    registry = BackendRegistry([OpenAIBackend("a", fake.url), OpenAIBackend("b", second.url)])
    assert [b.name for b in await registry.candidates("fake-model")] == ["a"]
    assert [b.name for b in await registry.candidates("local-model")] == ["b"]
    assert await registry.models() == [
        ("fake-model", "a"),
        ("other-model", "a"),
        ("local-model", "b"),
    ]
    with pytest.raises(Unavailable) as caught:
        await registry.candidates("gpt-5")
    assert "no backend serves model 'gpt-5'" in caught.value.detail
    assert "fake-model" in caught.value.detail
    assert await answer(registry, "local-model") == "You said: q"
    assert len(second.chat_requests()) == 1 and not fake.chat_requests()


async def test_routing_globs_decide_first(fake: FakeOpenAI, second: FakeOpenAI) -> None:
    registry = BackendRegistry(
        [OpenAIBackend("a", fake.url), OpenAIBackend("b", second.url)],
        routes=[("gpt-*", ["b", "a"]), ("*", ["a"])],
    )
    assert [b.name for b in await registry.candidates("gpt-4o")] == ["b", "a"]
    assert [b.name for b in await registry.candidates("local-model")] == ["a"]
    missing = BackendRegistry([OpenAIBackend("a", fake.url)], routes=[("x*", ["agents"])])
    with pytest.raises(Unavailable, match="routed to agents"):
        await missing.candidates("x1")


async def test_the_default_model_is_configured_or_the_first_listed(fake: FakeOpenAI) -> None:
    backend = OpenAIBackend("a", fake.url)
    assert await BackendRegistry([backend], default_model="other-model").resolve_model(None) == (
        "other-model"
    )
    assert await BackendRegistry([backend]).resolve_model(None) == "fake-model"
    assert await BackendRegistry([backend]).resolve_model("asked") == "asked"


async def test_without_a_model_to_use_the_error_says_why_no_backend_listed_one() -> None:
    down = OpenAIBackend("down", f"http://127.0.0.1:{free_port()}/v1")
    with FakeOpenAI(models=()) as empty:
        registry = BackendRegistry([down, OpenAIBackend("empty", empty.url)])
        with pytest.raises(Unavailable) as caught:
            await registry.resolve_model(None)
    detail = caught.value.detail
    assert "no model was named and no backend lists one" in detail
    assert "backend 'down' could not list its models: ConnectError: could not connect" in detail
    assert "'empty'" not in detail  # it answered; it just lists nothing
    assert detail.endswith("name a model or set PARLEY_DEFAULT_MODEL")


async def test_a_backend_that_fails_before_any_text_hands_over(
    fake: FakeOpenAI, second: FakeOpenAI
) -> None:
    fake.script(Reply(status=500))
    registry = BackendRegistry(
        [OpenAIBackend("a", fake.url), OpenAIBackend("b", second.url)],
        routes=[("*", ["a", "b"])],
    )
    assert await answer(registry, "fake-model") == "You said: q"
    assert len(fake.chat_requests()) == 1 and len(second.chat_requests()) == 1


async def test_once_text_was_streamed_the_error_is_final(
    fake: FakeOpenAI, second: FakeOpenAI
) -> None:
    fake.script(Reply(pieces=["half", "way"], drop_after=1))
    registry = BackendRegistry(
        [OpenAIBackend("a", fake.url), OpenAIBackend("b", second.url)],
        routes=[("*", ["a", "b"])],
    )
    with pytest.raises(BackendError) as caught:
        await answer(registry, "fake-model")
    assert caught.value.partial
    assert not second.chat_requests()


async def test_when_every_backend_fails_each_is_named(fake: FakeOpenAI, second: FakeOpenAI) -> None:
    fake.script(Reply(status=500, error="first broke"))
    second.script(Reply(status=503, error="second busy"))
    registry = BackendRegistry(
        [OpenAIBackend("a", fake.url), OpenAIBackend("b", second.url)],
        routes=[("*", ["a", "b"])],
    )
    with pytest.raises(BackendError) as caught:
        await answer(registry, "m")
    assert "first broke" in caught.value.detail and "second busy" in caught.value.detail
    assert caught.value.status == 503


async def test_backends_join_and_leave(fake: FakeOpenAI, second: FakeOpenAI) -> None:
    registry = BackendRegistry([OpenAIBackend("a", fake.url)])
    registry.register(OpenAIBackend("agents", second.url))
    assert registry.names == ["a", "agents"]
    assert [b.name for b in await registry.candidates("local-model")] == ["agents"]
    registry.unregister("agents")
    with pytest.raises(Unavailable):
        await registry.candidates("local-model")
