"""The agent protocol: one level of JSON per frame, validated both ways with clear errors."""

from __future__ import annotations

import orjson
import pytest

from parley.agents import protocol
from parley.agents.protocol import ProtocolError


def test_every_frame_round_trips_as_one_json_object() -> None:
    agent_frames: list[protocol.AgentFrame] = [
        protocol.Register(models=["m1", "m2"], concurrency=3, agent_id="gpu-1", version="x"),
        protocol.Pong(ts=12.5),
        protocol.Chunk(id="r1", text="Hel"),
        protocol.Chunk(id="r1", text=""),
        protocol.Done(id="r1", finish_reason="length", usage={"completion_tokens": 2}, model="m1"),
        protocol.Error(id="r1", detail="upstream said no"),
        protocol.Drain(),
        protocol.Batch(
            frames=[
                protocol.Chunk(id="r1", text="a"),
                protocol.Chunk(id="r2", text="b"),
                protocol.Done(id="r1"),
                protocol.Pong(ts=1.0),
            ]
        ),
    ]
    for frame in agent_frames:
        text = protocol.encode(frame)
        assert protocol.from_agent(text) == frame
        assert protocol.from_agent(text.encode()) == frame
    hub_frames: list[protocol.HubFrame] = [
        protocol.Registered(agent_id="gpu-1", heartbeat_interval=15.0),
        protocol.Registered(agent_id="gpu-1", heartbeat_interval=15.0, batch=True),
        protocol.Ping(ts=3.0),
        protocol.Request(
            id="r1",
            model="m1",
            messages=[{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
            params={"max_tokens": 5, "response_format": {"type": "json_object"}},
        ),
        protocol.Cancel(id="r1"),
        protocol.Error(detail="refused"),
    ]
    for frame in hub_frames:
        assert protocol.from_hub(protocol.encode(frame)) == frame


def test_frames_nest_objects_instead_of_json_strings() -> None:
    request = protocol.Request(
        id="r", model="m", messages=[{"role": "user", "content": "hi"}], params={"n": 1}
    )
    decoded = orjson.loads(protocol.encode(request))
    assert decoded == {
        "type": "request",
        "id": "r",
        "model": "m",
        "messages": [{"role": "user", "content": "hi"}],
        "params": {"n": 1},
    }
    done = orjson.loads(protocol.encode(protocol.Done(id="r")))
    assert done == {"type": "done", "id": "r", "finish_reason": "stop"}  # None left out


def test_a_batch_nests_its_frames_as_objects() -> None:
    batch = protocol.Batch(frames=[protocol.Chunk(id="r", text="a"), protocol.Done(id="r")])
    assert orjson.loads(protocol.encode(batch)) == {
        "type": "batch",
        "frames": [
            {"type": "chunk", "id": "r", "text": "a"},
            {"type": "done", "id": "r", "finish_reason": "stop"},
        ],
    }


def test_a_hub_that_does_not_mention_batches_does_not_read_them() -> None:
    older = '{"type": "registered", "agent_id": "a", "heartbeat_interval": 5}'
    assert protocol.from_hub(older) == protocol.Registered(agent_id="a", heartbeat_interval=5)
    assert not protocol.from_hub(older.replace("}", ', "batch": "yes"}')).batch  # type: ignore[union-attr]


def test_register_defaults_and_cleanup() -> None:
    frame = protocol.from_agent('{"type": "register", "models": [" m ", "m", "n"], "extra": 1}')
    assert frame == protocol.Register(models=["m", "n"], concurrency=1)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("not json", "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ('{"models": ["m"]}', "frame has no 'type'"),
        ('{"type": "hello"}', "unknown frame type 'hello'"),
        ('{"type": "register"}', "'models' must be a non-empty list"),
        ('{"type": "register", "models": []}', "'models' must be a non-empty list"),
        ('{"type": "register", "models": [""]}', "every model name"),
        ('{"type": "register", "models": [3]}', "every model name"),
        ('{"type": "register", "models": ["m"], "concurrency": 0}', "'concurrency'"),
        ('{"type": "register", "models": ["m"], "concurrency": true}', "'concurrency'"),
        ('{"type": "register", "models": ["m"], "concurrency": 1.5}', "'concurrency'"),
        ('{"type": "register", "models": ["m"], "agent_id": "a b"}', "'agent_id'"),
        ('{"type": "register", "models": ["m"], "agent_id": 7}', "'agent_id' must be a string"),
        ('{"type": "chunk", "text": "x"}', "'id' must be a non-empty string"),
        ('{"type": "chunk", "id": "r"}', "'text' must be a string"),
        ('{"type": "chunk", "id": "r", "text": {"a": 1}}', "'text' must be a string"),
        ('{"type": "done", "id": "r", "usage": "{\\"a\\": 1}"}', "'usage' must be an object"),
        ('{"type": "error", "id": "r"}', "'detail'"),
        ('{"type": "pong", "ts": "now"}', "'ts' must be a number"),
        ('{"type": "request", "id": "r", "model": "m", "messages": []}', "unknown frame type"),
        ('{"type": "batch"}', "'frames' must be a non-empty list"),
        ('{"type": "batch", "frames": []}', "'frames' must be a non-empty list"),
        ('{"type": "batch", "frames": [3]}', "frame 0 of the batch is not a JSON object"),
        (
            '{"type": "batch", "frames": [{"type": "pong"}, {"type": "chunk", "id": "r"}]}',
            "frame 1 of the batch: 'text' must be a string",
        ),
        (
            '{"type": "batch", "frames": [{"type": "register", "models": ["m"]}]}',
            "frame 0 of the batch: unknown frame type 'register'",
        ),
        (
            '{"type": "batch", "frames": [{"type": "batch", "frames": [{"type": "pong"}]}]}',
            "frame 0 of the batch: unknown frame type 'batch'",
        ),
    ],
)
def test_invalid_agent_frames_say_what_is_wrong(raw: str, message: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        protocol.from_agent(raw)
    assert message in caught.value.detail


def test_too_many_models_are_refused() -> None:
    raw = orjson.dumps({"type": "register", "models": [f"m{i}" for i in range(101)]})
    with pytest.raises(ProtocolError, match="more than 100"):
        protocol.from_agent(raw)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ('{"type": "registered", "agent_id": "a"}', "'heartbeat_interval' must be a number"),
        ('{"type": "registered", "agent_id": "a", "heartbeat_interval": 0}', "positive"),
        ('{"type": "request", "id": "r", "model": "m", "messages": "hi"}', "'messages'"),
        ('{"type": "request", "id": "r", "model": "m", "messages": [{"content": "x"}]}', "'role'"),
        ('{"type": "request", "id": "r", "messages": []}', "'model'"),
        (
            '{"type": "request", "id": "r", "model": "m", "messages": [], "params": "{}"}',
            "'params'",
        ),
        ('{"type": "cancel"}', "'id'"),
        ('{"type": "chunk", "id": "r", "text": "x"}', "unknown frame type 'chunk'"),
    ],
)
def test_invalid_hub_frames_say_what_is_wrong(raw: str, message: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        protocol.from_hub(raw)
    assert message in caught.value.detail
