"""The fake backend's own contract where the benchmark relies on it: timings and batching."""

from __future__ import annotations

import itertools
import time

import httpx
import orjson

from tests.support.fake_openai import FakeOpenAI, Reply


def stream(fake: FakeOpenAI, prompt: str, *, mid_step: float | None = None) -> list[float]:
    """Ask for a streamed reply (in the middle of a ``mid_step`` step, if given); when each
    text piece arrived (time.monotonic())."""
    body = {
        "model": "fake-model",
        "stream": True,
        "messages": [{"role": "user", "content": prompt}],
    }
    arrived = []
    with httpx.Client(timeout=10) as client:
        client.get(f"{fake.url}/models")  # connected: the request below leaves at once
        if mid_step:
            time.sleep(mid_step * 1.5 - time.monotonic() % mid_step)
        with client.stream("POST", f"{fake.url}/chat/completions", json=body) as response:
            arrived += _text_arrivals(response)
    return arrived


def _text_arrivals(response: httpx.Response) -> list[float]:
    arrived = []
    for line in response.iter_lines():
        if line.startswith("data: {") and '"content":"' in line and '"content":""' not in line:
            arrived.append(time.monotonic())
    return arrived


def test_timings_bracket_each_streamed_reply_and_are_forgotten_once_read() -> None:
    with FakeOpenAI(timings={}) as fake:
        fake.script(Reply(pieces=["a", "b", "c"], delay=0.02))
        sent = time.monotonic()
        arrived = stream(fake, "first prompt")
        done = time.monotonic()
        timings = orjson.loads(httpx.get(f"http://127.0.0.1:{fake.port}/fake/timings").content)
        assert list(timings) == ["first prompt"]
        read, first, end = timings["first prompt"]
        assert sent <= read <= first <= arrived[0] <= arrived[-1] <= done
        assert end - first >= 2 * 0.02 * 0.9  # the two paced pieces came between them
        assert end <= done
        again = httpx.get(f"http://127.0.0.1:{fake.port}/fake/timings")
        assert orjson.loads(again.content) == {}


def test_without_timings_the_route_is_not_there() -> None:
    with FakeOpenAI() as fake:
        response = httpx.get(f"http://127.0.0.1:{fake.port}/fake/timings")
        assert response.status_code == 404


def test_batched_pieces_fall_on_shared_steps() -> None:
    step = 0.05
    with FakeOpenAI() as fake:
        fake.script(Reply(pieces=["a", "b", "c", "d"], delay=step, batched=True))
        arrived = stream(fake, "batched", mid_step=step)
        # each piece waits for the next multiple of the step: its phase on the step grid is
        # near 0 (up to the loop's lateness), not the middle the request came at
        phases = [t % step for t in arrived]
        assert all(p < step * 0.4 for p in phases), phases
        gaps = [b - a for a, b in itertools.pairwise(arrived)]
        assert all(step * 0.5 < g < step * 1.5 for g in gaps), gaps
