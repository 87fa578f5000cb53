"""The worker's options: hub URL, model aliases, backoff."""

from __future__ import annotations

import pytest

from parley.agents.options import backoff_delay, hub_uri, model_aliases


def test_hub_uri() -> None:
    assert hub_uri("http://h:8080") == "ws://h:8080/client/register"
    assert hub_uri("https://h/parley/") == "wss://h/parley/client/register"
    assert hub_uri("ws://h:1/client/register") == "ws://h:1/client/register"
    with pytest.raises(ValueError, match="not a server URL"):
        hub_uri("h:8080")


def test_model_aliases() -> None:
    assert model_aliases([]) == {}
    assert model_aliases(["a", " b = local-b ", "c="]) == {"a": "a", "b": "local-b", "c": "c"}
    with pytest.raises(ValueError, match="use NAME or NAME=LOCAL_NAME"):
        model_aliases(["=x"])


def test_backoff_grows_with_jitter_and_stays_capped() -> None:
    delays = [backoff_delay(n, 0.5, 30) for n in range(12)]
    assert all(0.25 <= d <= 30 for d in delays)
    assert delays[0] <= 0.5 and delays[-1] >= 15
    assert backoff_delay(10_000, 0.5, 30) <= 30
