"""Chat tests: coroutines on asyncio (anyio's plugin) and a fake backend on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.fake_openai import FakeOpenAI


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    """A fake OpenAI-compatible server listening on 127.0.0.1 (models fake-model, other-model)."""
    with FakeOpenAI(models=("fake-model", "other-model")) as server:
        yield server
