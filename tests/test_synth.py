"""The synthetic history generator: determinism, the edge-case catalogue, writers, sizes."""

from __future__ import annotations

import copy
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from itertools import pairwise
from pathlib import Path
from typing import Any

import orjson
import pytest

from parley import synth, tree
from parley.tree import Tree

Conv = dict[str, Any]
MALFORMED = {"parent-cycle", "dangling-child", "orphan"}
# The content types of the export-format reference, at the message level ...
REFERENCE_CONTENT_TYPES = {
    "text", "multimodal_text", "code", "execution_output", "tether_browsing_display",
    "tether_browsing_code", "tether_quote", "sonic_webpage", "thoughts", "reasoning_recap",
    "user_editable_context", "model_editable_context", "system_error", "computer_output",
    "app_pairing_content",
}  # fmt: skip
# ... and the part level of multimodal_text.
REFERENCE_PART_TYPES = {
    "image_asset_pointer", "audio_asset_pointer", "audio_transcription",
    "real_time_user_audio_video_asset_pointer",
}  # fmt: skip


@pytest.fixture(scope="module")
def edges() -> dict[str, Conv]:
    convs = synth.edge_case_conversations(seed=7)
    by_name = {}
    for name, conv in zip(synth.EDGE_CASE_NAMES, convs, strict=True):
        cid = str(conv.get("id", conv.get("conversation_id")))
        assert isinstance(cid, str) and cid.startswith(f"edge-{name}-")
        by_name[name] = conv
    return by_name


def messages(conv: Conv) -> Iterator[dict[str, Any]]:
    for node in conv["mapping"].values():
        if isinstance(node, dict) and isinstance(node.get("message"), dict):
            yield node["message"]


def ctype(message: dict[str, Any]) -> str | None:
    return tree.content_type(message)


def parts(conv: Conv) -> Iterator[Any]:
    for message in messages(conv):
        yield from message["content"].get("parts") or []


def texts(conv: Conv) -> str:
    return "\n".join(tree.message_text(m) for m in messages(conv)) + "\n" + str(conv["title"])


def serialized(convs: Any) -> bytes:
    return orjson.dumps(list(convs))


# --- determinism ------------------------------------------------------------------------


def test_same_seed_same_output_and_prefix_property() -> None:
    first = serialized(synth.generate(60, seed=3))
    assert first == serialized(synth.generate(60, seed=3))
    assert first != serialized(synth.generate(60, seed=4))
    shorter = list(synth.generate(59, seed=3))
    assert shorter == list(synth.generate(60, seed=3))[:59]


def test_edge_cases_are_deterministic_and_mixed_in_at_fixed_indexes() -> None:
    assert serialized(synth.edge_case_conversations(seed=2)) == serialized(
        synth.edge_case_conversations(seed=2)
    )
    convs = list(synth.generate(synth.EDGE_FIRST + 3 * synth.EDGE_STRIDE + 1, seed=1))
    for k in range(4):
        conv = convs[synth.EDGE_FIRST + k * synth.EDGE_STRIDE]
        cid = str(conv.get("id", conv.get("conversation_id")))
        assert cid.startswith(f"edge-{synth.EDGE_CASE_NAMES[k]}-")
    others = [c for i, c in enumerate(convs) if (i - synth.EDGE_FIRST) % synth.EDGE_STRIDE]
    assert not any(c["id"].startswith("edge-") for c in others)
    assert not any(c["id"].startswith("edge-") for c in synth.generate(40, edge_cases=False))


# --- the edge-case catalogue --------------------------------------------------------------


def test_every_reference_content_type_appears(edges: dict[str, Conv]) -> None:
    kinds: set[str] = set()
    part_kinds: set[str] = set()
    for conv in edges.values():
        for message in messages(conv):
            kinds.add(str(ctype(message)))
            for part in message["content"].get("parts") or []:
                if isinstance(part, dict) and "content_type" in part:
                    part_kinds.add(part["content_type"])
                    if isinstance(part.get("audio_asset_pointer"), dict):
                        part_kinds.add(part["audio_asset_pointer"]["content_type"])
    assert REFERENCE_CONTENT_TYPES.issubset(kinds)
    assert tree.KNOWN_CONTENT_TYPES.issubset(kinds)
    assert REFERENCE_PART_TYPES.issubset(part_kinds)
    assert "x_hologram" in kinds - tree.KNOWN_CONTENT_TYPES


def has(conv: Conv, kind: str) -> bool:
    return any(ctype(m) == kind for m in messages(conv))


def image_parts(conv: Conv) -> list[dict[str, Any]]:
    return [
        p for p in parts(conv) if isinstance(p, dict) and p["content_type"] == "image_asset_pointer"
    ]


def first_child_leaf(conv: Conv) -> str:
    mapping = conv["mapping"]
    cursor = next(k for k, n in mapping.items() if n["parent"] is None)
    while mapping[cursor].get("children"):
        cursor = mapping[cursor]["children"][0]
    return cursor


def check_legacy_citations(conv: Conv) -> bool:
    for message in messages(conv):
        text = tree.message_text(message)
        for cite in message["metadata"].get("citations", []):
            assert text[cite["start_ix"] : cite["end_ix"]].startswith("【")
            assert cite["metadata"]["title"] and cite["metadata"]["url"].startswith("https://")
            if "【11†source】" in text:
                return True
    return False


def check_content_references(conv: Conv) -> bool:
    found = False
    for message in messages(conv):
        text = tree.message_text(message)
        for ref in message["metadata"].get("content_references", []):
            assert text[ref["start_idx"] : ref["end_idx"]] == ref["matched_text"]
            assert all(item["title"] and item["url"] for item in ref["items"])
            found |= ref["matched_text"] == "\ue200cite\ue202turn0search3\ue201"
    return found and has(conv, "sonic_webpage")


def check_branches(conv: Conv) -> bool:
    mapping = conv["mapping"]

    def kids(node_id: str, role: str) -> list[str]:
        return [k for k in mapping[node_id]["children"] if tree.role(mapping[k]["message"]) == role]

    edit = any(len(kids(n, "user")) >= 2 for n in mapping)
    regenerate = any(
        len(kids(n, "assistant")) >= 2
        for n, node in mapping.items()
        if tree.role(node["message"]) == "user"
    )
    shape = Tree.build(mapping)
    path = shape.visible_path(conv["current_node"])
    off_first = any(shape.children[a].index(b) > 0 for a, b in pairwise(path))
    return edit and regenerate and off_first and first_child_leaf(conv) != conv["current_node"]


def check_hidden(conv: Conv) -> bool:
    ms = list(messages(conv))
    user_system = [m for m in ms if m["metadata"].get("is_user_system_message")]
    plain_system = [
        m
        for m in ms
        if tree.role(m) == "system" and not m["metadata"].get("is_user_system_message")
    ]
    flagged = [m for m in ms if m["metadata"].get("is_visually_hidden_from_conversation")]
    tool_calls = [m for m in ms if tree.role(m) == "assistant" and m["recipient"] != "all"]
    return (
        all(not tree.is_hidden(m) for m in user_system)
        and all(tree.is_hidden(m) for m in plain_system + flagged + tool_calls)
        and bool(user_system and plain_system and flagged and tool_calls)
    )


def check_cycle(conv: Conv) -> bool:
    mapping = conv["mapping"]
    return any(
        n["parent"] in mapping and mapping[n["parent"]]["parent"] == k for k, n in mapping.items()
    )


def check_legacy_root(conv: Conv) -> bool:
    mapping = conv["mapping"]
    root = next(n for n in mapping.values() if n["parent"] is None)
    (system_id,) = root["children"]
    system = mapping[system_id]["message"]
    first = mapping[mapping[system_id]["children"][0]]["message"]
    return (
        root["message"] is None
        and root["id"] != synth.ROOT
        and tree.role(system) == "system"
        and system["content"]["parts"] == [""]
        and tree.is_hidden(system)
        and tree.role(first) == "user"
    )


def check_rich(conv: Conv) -> bool:
    text = texts(conv)
    fences = {line[3:] for line in text.splitlines() if line.startswith("```") and line[3:]}
    return (
        len(fences) >= 5
        and "|---" in text
        and "$$" in text
        and "\\(" in text
        and any("\u4e00" <= ch <= "\u9fff" for ch in text)
        and "](https://" in text
    )


HOSTILE = (
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "[x](javascript:alert(1))",
    "<svg onload=",
    '<a href="',
)

CHECKS: dict[str, Callable[[Conv], bool]] = {
    "rich-markdown": check_rich,
    "image-upload": lambda c: any(
        p["asset_pointer"].startswith("file-service://") for p in image_parts(c)
    ),
    "dalle-image": lambda c: (
        any(
            p["asset_pointer"].startswith("sediment://") and p["metadata"]["dalle"]
            for p in image_parts(c)
        )
        and any(p["metadata"]["generation"] for p in image_parts(c))
    ),
    "voice": lambda c: (
        REFERENCE_PART_TYPES - {"image_asset_pointer"}
        <= {p["content_type"] for p in parts(c) if isinstance(p, dict)}
    ),
    "python-tool": lambda c: (
        any(ctype(m) == "code" and m["recipient"] == "python" for m in messages(c))
        and any(
            ctype(m) == "execution_output"
            and m["metadata"]["aggregate_result"]["messages"][0]["message_type"] == "image"
            for m in messages(c)
        )
    ),
    "browsing-legacy": lambda c: all(
        has(c, k) for k in ("tether_browsing_display", "tether_browsing_code", "tether_quote")
    ),
    "legacy-citations": check_legacy_citations,
    "web-search": check_content_references,
    "reasoning": lambda c: has(c, "thoughts") and has(c, "reasoning_recap"),
    "custom-instructions": lambda c: (
        has(c, "user_editable_context") and has(c, "model_editable_context")
    ),
    "system-error": lambda c: has(c, "system_error"),
    "computer-use": lambda c: has(c, "computer_output"),
    "app-pairing": lambda c: has(c, "app_pairing_content"),
    "unknown-type": lambda c: has(c, "x_hologram"),
    "branches": check_branches,
    "current-null": lambda c: "current_node" in c and c["current_node"] is None,
    "current-missing": lambda c: (
        c["current_node"] is not None and c["current_node"] not in c["mapping"]
    ),
    "no-id": lambda c: "id" not in c and c["conversation_id"].startswith("edge-no-id-"),
    "null-title": lambda c: "title" in c and c["title"] is None,
    "dict-parts": lambda c: any(
        ctype(m) == "text" and any(isinstance(p, dict) for p in m["content"]["parts"])
        for m in messages(c)
    ),
    "missing-fields": lambda c: (
        all("children" not in n for n in c["mapping"].values())
        and all("status" not in m and "weight" not in m for m in messages(c))
    ),
    "hidden": check_hidden,
    "empty-placeholder": lambda c: any(
        m["content"].get("parts") == [""] and tree.role(m) != "system" for m in messages(c)
    ),
    "parent-cycle": check_cycle,
    "dangling-child": lambda c: any(
        kid not in c["mapping"] for n in c["mapping"].values() for kid in n.get("children", [])
    ),
    "orphan": lambda c: any(
        n["parent"] is not None and n["parent"] not in c["mapping"] for n in c["mapping"].values()
    ),
    "hostile-html": lambda c: all(h in texts(c) for h in HOSTILE) and "<script>" in c["title"],
    "status": lambda c: (
        {"finished_partial_completion", "in_progress"} <= {m.get("status") for m in messages(c)}
    ),
    "single-message": lambda c: len(c["mapping"]) == 1 and len(list(messages(c))) == 1,
    "unicode": lambda c: (
        any(ord(ch) > 0xFFFF for ch in texts(c))
        and any("\u0590" <= ch <= "\u06ff" for ch in texts(c))
    ),
    "null-create-time": lambda c: any(
        m["create_time"] is None and tree.role(m) != "system" for m in messages(c)
    ),
    "legacy-root": check_legacy_root,
    "project": lambda c: (
        c["conversation_template_id"].startswith("g-p-") and c["gizmo_type"] == "snorlax"
    ),
    "custom-gpt": lambda c: c["gizmo_id"].startswith("g-") and not c["gizmo_id"].startswith("g-p-"),
    "future-fields": lambda c: isinstance(c.get("x_future_field"), dict),
    "huge-message": lambda c: max(len(tree.message_text(m)) for m in messages(c)) >= 1_900_000,
}


def test_catalogue_matches_the_checks() -> None:
    assert set(synth.EDGE_CASE_NAMES) == set(CHECKS)
    assert len(synth.EDGE_CASE_NAMES) == len(set(synth.EDGE_CASE_NAMES))


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_edge_case_structure(edges: dict[str, Conv], name: str) -> None:
    assert CHECKS[name](edges[name])


def test_regular_conversations_are_not_edge_cases_by_accident() -> None:
    convs = list(synth.generate(200, seed=11, edge_cases=False))
    for name in ("parent-cycle", "dangling-child", "orphan", "current-missing", "no-id"):
        assert not any(CHECKS[name](c) for c in convs), name


# --- the tree over everything generated -------------------------------------------------


def test_tree_builds_cleanly_on_everything(edges: dict[str, Conv]) -> None:
    generated = list(synth.generate(420, seed=5))
    for conv in [*generated, *edges.values()]:
        shape = Tree.build(conv["mapping"])
        path = shape.visible_path(conv.get("current_node"))
        assert path
        tree.visible_messages(conv)
        cid = str(conv.get("id", conv.get("conversation_id")))
        if not any(cid.startswith(f"edge-{name}-") for name in MALFORMED):
            assert shape.warnings == [], cid
        if conv.get("current_node") in conv["mapping"]:
            assert path[-1] == conv["current_node"]
    for name in MALFORMED:
        assert Tree.build(edges[name]["mapping"]).warnings, name


def test_regular_conversations_look_real() -> None:
    start = 1_686_000_000.0  # 2023-06: spans the model eras up to late 2025
    convs = list(synth.generate(600, seed=9, start=start, span_days=900, edge_cases=False))
    slugs = {tree.model_slug(m) for c in convs for m in messages(c)} - {None}
    assert {"gpt-4", "gpt-4o", "o1", "gpt-5"} <= slugs
    for conv in convs:
        assert start <= conv["create_time"] + 2 and conv["create_time"] < start + 900 * 86400
        root = next(n for n in conv["mapping"].values() if n["parent"] is None)
        new = conv["create_time"] >= synth.CLIENT_ROOT_SINCE + 2
        assert (root["id"] == synth.ROOT) == new or abs(
            conv["create_time"] - synth.CLIENT_ROOT_SINCE
        ) < 3
        assert conv["update_time"] >= conv["create_time"]
    assert any(c["title"] is None for c in convs)
    assert any(c["conversation_template_id"] for c in convs)
    assert any(c["is_archived"] for c in convs)
    assert any(len(n["children"]) > 1 for c in convs for n in c["mapping"].values())
    hours = Counter(int(c["create_time"] // 3600) % 24 for c in convs)
    assert max(hours.values()) >= 4 * max(1, min(hours.get(h, 0) for h in range(24)))


def test_message_count_averages_about_twenty() -> None:
    convs = list(synth.generate(200))
    average = sum(len(list(messages(c))) for c in convs) / len(convs)
    assert 15 <= average <= 25


# --- sizes ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("count", "target"), [(40, 2_000_000), (300, 20_000_000), (900, 30_000_000)]
)
def test_target_bytes_within_15_percent(count: int, target: int) -> None:
    total = sum(len(orjson.dumps(c)) for c in synth.generate(count, seed=2, target_bytes=target))
    assert 0.85 * target <= total <= 1.15 * target


# --- slim and the writers ---------------------------------------------------------------


def test_slim_drops_children_and_message_fields(edges: dict[str, Conv]) -> None:
    for conv in [*synth.generate(30), *edges.values()]:
        before = copy.deepcopy(conv)
        thin = synth.slim(conv)
        assert conv == before
        assert thin.keys() == conv.keys() and thin["mapping"].keys() == conv["mapping"].keys()
        for node in thin["mapping"].values():
            assert "children" not in node
            if node["message"] is not None:
                assert not synth.SLIM_DROP & node["message"].keys()
                assert (
                    node["message"]["content"] == conv["mapping"][node["id"]]["message"]["content"]
                )
        # Rebuilding from parents alone keeps the visible thread of a well-formed conversation.
        if conv["current_node"] in conv["mapping"] and not Tree.build(conv["mapping"]).warnings:
            assert Tree.build(thin["mapping"]).path_to(conv["current_node"]) == Tree.build(
                conv["mapping"]
            ).path_to(conv["current_node"])


@pytest.fixture(scope="module")
def sample() -> list[Conv]:
    return [*synth.generate(40, seed=4), *synth.edge_case_conversations(seed=4)[:-1]]


def test_legacy_zip_round_trips(tmp_path: Path, sample: list[Conv]) -> None:
    path = synth.write_export_zip(tmp_path / "export.zip", iter(sample))
    with zipfile.ZipFile(path) as zf:
        assert zf.testzip() is None
        names = set(zf.namelist())
        assert {"conversations.json", "user.json", "message_feedback.json", "chat.html"} <= names
        assert orjson.loads(zf.read("conversations.json")) == sample
        assert isinstance(orjson.loads(zf.read("message_feedback.json")), list)
        assert any(n.startswith("file") and n.endswith(".png") for n in names)


def test_sharded_zip_round_trips_with_manifest(tmp_path: Path, sample: list[Conv]) -> None:
    path = synth.write_export_zip(tmp_path / "e.zip", iter(sample), layout="sharded", shard_size=9)
    with zipfile.ZipFile(path) as zf:
        assert zf.testzip() is None
        manifest = orjson.loads(zf.read("export_manifest.json"))
        assert manifest["version"]
        listed = {f["path"]: f["size_bytes"] for f in manifest["export_files"]}
        shards = sorted(n for n in zf.namelist() if n.startswith("conversations-"))
        expected = (len(sample) + 8) // 9
        assert shards == [f"conversations-{i:03d}.json" for i in range(expected)]
        for name in zf.namelist():
            if name != "export_manifest.json":
                assert listed[name] == zf.getinfo(name).file_size == len(zf.read(name))
        loaded = [c for name in shards for c in orjson.loads(zf.read(name))]
        assert loaded == sample
        assert all(len(orjson.loads(zf.read(n))) <= 9 for n in shards)
        assets = orjson.loads(zf.read("conversation_asset_file_names.json"))
        assert assets and all(name in zf.namelist() for name in assets)
        assert "user_settings.json" in listed


def test_slim_sharded_zip_and_empty_export(tmp_path: Path, sample: list[Conv]) -> None:
    path = synth.write_export_zip(tmp_path / "s.zip", sample, layout="sharded", slim=True)
    with zipfile.ZipFile(path) as zf:
        loaded = orjson.loads(zf.read("conversations-000.json"))
        assert loaded == [synth.slim(c) for c in sample[:100]]
    path = synth.write_export_zip(tmp_path / "empty.zip", [], layout="sharded")
    with zipfile.ZipFile(path) as zf:
        assert orjson.loads(zf.read("conversations-000.json")) == []
    with pytest.raises(ValueError):
        synth.write_export_zip(tmp_path / "x.zip", [], layout="nope")  # type: ignore[arg-type]


def test_zip_consumes_a_generator_lazily(tmp_path: Path) -> None:
    path = synth.write_export_zip(tmp_path / "g.zip", synth.generate(25, seed=6), slim=True)
    with zipfile.ZipFile(path) as zf:
        loaded = orjson.loads(zf.read("conversations.json"))
    assert loaded == [synth.slim(c) for c in synth.generate(25, seed=6)]


def test_write_conversations_json(tmp_path: Path, sample: list[Conv]) -> None:
    bare = synth.write_conversations_json(tmp_path / "c.json", iter(sample))
    assert orjson.loads(bare.read_bytes()) == sample
    wrapped = synth.write_conversations_json(tmp_path / "w.json", sample, wrapped=True)
    assert orjson.loads(wrapped.read_bytes()) == {"conversations": sample}
    empty = synth.write_conversations_json(tmp_path / "e.json", [])
    assert orjson.loads(empty.read_bytes()) == []


def test_unreachable_target_bytes_is_refused_up_front() -> None:
    with pytest.raises(ValueError, match="out of reach"):
        synth.generate(2000, target_bytes=3_000_000)  # structure alone needs ~30 MB
    with pytest.raises(ValueError, match="out of reach"):
        synth.generate(1, target_bytes=10**11)


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError):
        synth.generate(-1)
    with pytest.raises(ValueError):
        synth.generate(1, span_days=0)
    with pytest.raises(ValueError):
        synth.generate(1, target_bytes=0)


def times_of(conv: Conv) -> list[float]:
    holders = [conv, *messages(conv)] if isinstance(conv.get("mapping"), dict) else [conv]
    return [
        value
        for holder in holders
        for key in ("create_time", "update_time")
        if isinstance(value := holder.get(key), int | float)
    ]


def test_not_after_moves_a_conversation_that_would_end_late_back_as_a_whole() -> None:
    start, span = 1_700_000_000.0, 365
    end = start + span * 86400
    plain = list(synth.generate(300, start=start, span_days=span))
    ending = list(synth.generate(300, start=start, span_days=span, not_after=end))
    late = [i for i, conv in enumerate(plain) if max(times_of(conv), default=0) > end]
    assert late, "some conversations go on past the span's end"
    assert all(max(times_of(conv), default=0) <= end for conv in ending)
    for i, (before, after) in enumerate(zip(plain, ending, strict=True)):
        if i not in late:
            assert after == before
            continue
        shifts = {round(b - a, 3) for b, a in zip(times_of(before), times_of(after), strict=True)}
        assert len(shifts) == 1 and next(iter(shifts)) > 0  # every time moved by the same
