from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parley.errors import MalformedConversation
from parley.store.rows import assemble, conversation_id, epoch, explode

text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=8,
)
extra_keys = st.dictionaries(
    text.filter(lambda k: k not in {"id", "message", "parent", "children", "mapping"}),
    json_values,
    max_size=3,
)


@st.composite
def conversations(draw: st.DrawFn) -> dict[str, Any]:
    """Random but valid export-shape conversations: any tree, any extra keys and fields."""
    count = draw(st.integers(min_value=0, max_value=8))
    ids = [f"n{i}-" + draw(text) for i in range(count)]
    ids = list(dict.fromkeys(ids))
    slim = draw(st.booleans())
    parents: dict[str, str | None] = {}
    for index, node_id in enumerate(ids):
        parents[node_id] = draw(st.sampled_from([None, *ids[:index]])) if index else None
    mapping: dict[str, Any] = {}
    for node_id in ids:
        message = None
        if draw(st.booleans()):
            content = draw(
                st.fixed_dictionaries(
                    {"content_type": st.sampled_from(["text", "code", "x_new_type", "thoughts"])},
                    optional={"parts": st.lists(text | json_values, max_size=3), "text": text},
                )
            )
            message = {
                "id": node_id,
                "author": {
                    "role": draw(st.sampled_from(["user", "assistant", "system", "tool"])),
                    "name": None,
                    "metadata": {},
                },
                "create_time": draw(st.none() | st.floats(min_value=0, max_value=2e9)),
                "content": content,
                "metadata": draw(st.dictionaries(text, json_values, max_size=3)),
                **draw(extra_keys),
            }
        node: dict[str, Any] = {"id": node_id, "message": message, "parent": parents[node_id]}
        if not slim:
            node["children"] = [kid for kid in ids if parents[kid] == node_id]
        node.update(draw(extra_keys))
        mapping[node_id] = node
    data: dict[str, Any] = {
        "title": draw(st.none() | text),
        "create_time": draw(st.floats(min_value=0, max_value=2e9)),
        "update_time": draw(
            st.floats(min_value=0, max_value=2e9) | st.just("2024-12-22T07:58:21.257454Z")
        ),
        "mapping": mapping,
        "current_node": draw(st.sampled_from([None, "missing", *ids])),
        "id": draw(st.uuids()).hex,
        **draw(
            st.dictionaries(
                text.filter(lambda k: k not in {"mapping", "id"}), json_values, max_size=4
            )
        ),
    }
    return data


def roundtrip(data: dict[str, Any]) -> dict[str, Any]:
    exploded = explode(data)
    return assemble(exploded.row, exploded.messages)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(conversations())
def test_explode_then_assemble_is_lossless(data: dict[str, Any]) -> None:
    assert roundtrip(data) == orjson.loads(orjson.dumps(data))


def test_slim_nodes_stay_slim_and_odd_nodes_survive() -> None:
    data = {
        "id": "c1",
        "mapping": {
            "a": {"id": "a", "message": None, "parent": None},
            "b": {"message": None, "parent": "a", "weird": [1]},  # no id key
            "c": {"id": "other", "message": None, "parent": "a", "children": ["ghost"]},
        },
        "current_node": "c",
    }
    assert roundtrip(data) == data


def test_extracted_columns() -> None:
    data = {
        "conversation_id": "abc",
        "title": None,
        "create_time": 1700000000.5,
        "update_time": "2024-12-22T07:58:21Z",
        "mapping": {
            "r": {"id": "r", "message": None, "parent": None, "children": ["u"]},
            "u": {
                "id": "u",
                "parent": "r",
                "children": [],
                "message": {
                    "author": {"role": "user", "name": "me"},
                    "content": {"content_type": "text", "parts": ["hello\x00 world"]},
                    "create_time": 1700000001.0,
                    "recipient": "all",
                    "metadata": {"model_slug": "gpt-4o"},
                },
            },
        },
    }
    exploded = explode(data, content_hash="h")
    assert exploded.id == "abc"
    assert exploded.row["update_time"] == epoch("2024-12-22T07:58:21+00:00")
    assert exploded.row["message_count"] == 1
    user = exploded.messages[1]
    assert (user.role, user.author_name, user.model_slug, user.hidden) == (
        "user",
        "me",
        "gpt-4o",
        False,
    )
    assert user.text == "hello world"  # NUL removed from the copy...
    assert b"\\u0000" in user.message  # ...but kept in the verbatim message


def test_changed_columns_are_written_back() -> None:
    data = {"id": "c", "title": "old", "mapping": {}, "is_archived": False}
    exploded = explode(data)
    exploded.row.update(title="new", is_archived=True, is_starred=True)
    out = assemble(exploded.row, [])
    assert (out["title"], out["is_archived"], out["is_starred"]) == ("new", True, True)


def test_id_derived_when_absent_is_stable() -> None:
    data = {"title": "t", "create_time": 1.0, "mapping": {"a": {}}}
    assert conversation_id(data) == conversation_id(dict(data))
    assert conversation_id(data) != conversation_id({**data, "title": "u"})


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ([], "expected a JSON object"),
        ({"id": "x"}, "'mapping' is missing"),
        ({"id": "x", "mapping": []}, "'mapping' is missing or not an object"),
        ({"id": "x", "mapping": {}, "current_node": 5}, "'current_node' is not a string"),
        ({"id": "x", "mapping": {"a": 1}}, "node 'a' is not an object"),
        ({"id": "x", "mapping": {"a": {"message": "hi"}}}, "not an object"),
        ({"id": "x" * 300, "mapping": {}}, "longer than 200"),
    ],
)
def test_malformed_conversations_say_why(data: Any, reason: str) -> None:
    with pytest.raises(MalformedConversation, match=reason):
        explode(data)


def test_node_keys_that_look_like_parleys_markers_are_kept_verbatim() -> None:
    tricky = {
        "$children": {},
        "keys": [1],
        "no_id": True,
        "children_": 2,
        "$id": "x",
        "parent_": None,
    }
    data = {
        "id": "c",
        "mapping": {
            "a": {"id": "a", "message": None, "parent": None, "children": [], **tricky},
            "b": {"message": None, "parent": 7, "children": None, **tricky},
        },
    }
    assert roundtrip(data) == data
