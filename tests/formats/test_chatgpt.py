"""The streaming ChatGPT export reader: input shapes, the splitter, guards, memory."""

from __future__ import annotations

import io
import struct
import time
import tracemalloc
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parley.errors import BadImport
from parley.formats import archive, chatgpt
from parley.formats.chatgpt import (
    RawConversation,
    ZipLimits,
    iter_array_elements,
    read_export,
    total_bytes,
    write_export,
)

TRICKY = [
    'a "quoted" word',
    "back\\slash at the end \\",
    'escaped quote then bracket \\"]',
    "brackets ] } [ { and ,:, outside-looking text",
    "unicode: ünïcödé — 日本語 🎉 \u2028",
    "\\u0022 literal text",
    "\x00\x1f control chars\n\t\r",
    '{"looks": ["like", "json"]}, {',
]


def conv(i: int, text: str = "hello") -> dict[str, Any]:
    """A small but complete conversation in the export shape."""
    return {
        "id": f"conv-{i}",
        "title": f"Conversation {i}",
        "create_time": 1700000000.123456 + i,
        "mapping": {
            "client-created-root": {"id": "client-created-root", "message": None, "parent": None},
            "m1": {
                "id": "m1",
                "parent": "client-created-root",
                "children": [],
                "message": {
                    "id": "m1",
                    "author": {"role": "user", "metadata": {}},
                    "content": {"content_type": "text", "parts": [text]},
                    "metadata": {"citations": [], "content_references": [{"items": [{}]}]},
                },
            },
        },
        "current_node": "m1",
    }


def write(path: Path, payload: Any, *, bom: bool = False, indent: bool = False) -> Path:
    data = orjson.dumps(payload, option=orjson.OPT_INDENT_2 if indent else 0)
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + data)
    return path


def make_zip(path: Path, members: Mapping[str, Any]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in members.items():
            body = content if isinstance(content, bytes) else orjson.dumps(content)
            zf.writestr(zipfile.ZipInfo(name), body, compress_type=zipfile.ZIP_DEFLATED)
    return path


def ids(items: list[RawConversation]) -> list[str]:
    return [item.data["id"] for item in items if item.data is not None]


def split(data: bytes, chunk_size: int = 1 << 20) -> list[bytes]:
    return list(iter_array_elements(io.BytesIO(data), chunk_size=chunk_size))


# --- input shapes ---------------------------------------------------------------------------


def test_bare_array(tmp_path: Path) -> None:
    path = write(tmp_path / "conversations.json", [conv(0), conv(1), conv(2)])
    items = list(read_export([path]))
    assert ids(items) == ["conv-0", "conv-1", "conv-2"]
    assert [i.source for i in items] == [f"conversations.json[{n}]" for n in range(3)]
    assert items[1].data == conv(1)
    assert items[1].raw == orjson.dumps(conv(1))
    assert all(i.error is None for i in items)


def test_bom_and_whitespace_everywhere(tmp_path: Path) -> None:
    body = orjson.dumps([conv(0), conv(1)], option=orjson.OPT_INDENT_2).replace(b"\n", b"\r\n\t ")
    path = tmp_path / "conversations-000.json"
    path.write_bytes(b"\xef\xbb\xbf \n\t" + body + b"\n\n  ")
    assert ids(list(read_export([path]))) == ["conv-0", "conv-1"]


def test_empty_array(tmp_path: Path) -> None:
    assert list(read_export([write(tmp_path / "c.json", [])])) == []
    assert split(b" [ \n ] ") == []


def test_wrapped_object(tmp_path: Path) -> None:
    payload = {
        "version": "conversations",
        "meta": {"conversations": [1, 2], "note": 'a "conversations": [ in a string'},
        "conversations": [conv(0), conv(1, TRICKY[3])],
        "after": [{"x": "]"}],
    }
    path = write(tmp_path / "wrapped.json", payload, bom=True, indent=True)
    items = list(read_export([path]))
    assert ids(items) == ["conv-0", "conv-1"]
    assert items[1].source == "wrapped.json[1]"
    assert items[1].data == conv(1, TRICKY[3])


class Tracking(io.BytesIO):
    """Records how far the reader had read whenever an element comes out."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.high = 0

    def read(self, size: int | None = -1, /) -> bytes:
        data = super().read(size)
        self.high = self.tell()
        return data


def test_wrapped_object_streams() -> None:
    data = orjson.dumps({"conversations": [conv(i, "x" * 1000) for i in range(200)]})
    stream = Tracking(data)
    elements = iter_array_elements(stream, chunk_size=4096)
    first = next(elements)
    assert orjson.loads(first) == conv(0, "x" * 1000)
    assert stream.high < len(data) // 10
    assert len(list(elements)) == 199


def test_single_conversation_object(tmp_path: Path) -> None:
    path = write(tmp_path / "one.json", conv(7, TRICKY[7]), indent=True)
    items = list(read_export([path]))
    assert len(items) == 1
    assert items[0].source == "one.json"
    assert items[0].data == conv(7, TRICKY[7])


def test_object_that_is_not_a_conversation(tmp_path: Path) -> None:
    path = write(tmp_path / "user.json", {"email": "a@b.c", "items": [conv(0)]})
    with pytest.raises(BadImport, match="mapping"):
        list(read_export([path]))


def test_legacy_zip_ignores_other_members(tmp_path: Path) -> None:
    path = make_zip(
        tmp_path / "export.zip",
        {
            "chat.html": b"<html>[{]</html>",
            "user.json": {"id": "user"},
            "message_feedback.json": [],
            "conversations.json": [conv(0), conv(1)],
            "file-abc.dat": b"\x89PNG",
        },
    )
    items = list(read_export([path]))
    assert ids(items) == ["conv-0", "conv-1"]
    assert items[1].source == "export.zip:conversations.json[1]"


def test_sharded_zip_follows_the_manifest(tmp_path: Path) -> None:
    order = ["conversations-002.json", "conversations-000.json", "conversations-001.json"]
    manifest = {
        "version": 1,
        "export_files": [{"path": "user_settings.json", "size_bytes": 2}]
        + [{"path": name, "size_bytes": 1} for name in order],
    }
    members: dict[str, Any] = {
        f"conversations-{n:03d}.json": [conv(10 * n), conv(10 * n + 1)] for n in range(3)
    }
    members |= {"export_manifest.json": manifest, "user_settings.json": {}}
    items = list(read_export([make_zip(tmp_path / "e.zip", members)]))
    assert ids(items) == ["conv-20", "conv-21", "conv-0", "conv-1", "conv-10", "conv-11"]
    assert items[0].source == "e.zip:conversations-002.json[0]"


def test_sharded_zip_without_manifest_sorts_numerically(tmp_path: Path) -> None:
    members = {f"conversations-{n}.json": [conv(n)] for n in (10, 2, 1)}
    assert ids(list(read_export([make_zip(tmp_path / "e.zip", members)]))) == [
        "conv-1",
        "conv-2",
        "conv-10",
    ]


def test_manifest_listing_a_missing_shard(tmp_path: Path) -> None:
    manifest = {"export_files": [{"path": f"conversations-00{n}.json"} for n in range(2)]}
    path = make_zip(
        tmp_path / "e.zip",
        {"conversations-000.json": [conv(0)], "export_manifest.json": manifest},
    )
    with pytest.raises(BadImport, match=r"conversations-001\.json"):
        list(read_export([path]))


def test_zip_with_one_top_level_folder(tmp_path: Path) -> None:
    path = make_zip(
        tmp_path / "e.zip",
        {
            "Export 2026/": b"",
            "Export 2026/user.json": {},
            "Export 2026/conversations-001.json": [conv(1)],
            "Export 2026/conversations-000.json": [conv(0)],
            "__MACOSX/Export 2026/._conversations-000.json": b"\x00\x05",
            "Export 2026/deeper/conversations.json": [conv(99)],
        },
    )
    items = list(read_export([path]))
    assert ids(items) == ["conv-0", "conv-1"]
    assert items[0].source == "e.zip:Export 2026/conversations-000.json[0]"


def test_directory_is_walked_in_a_deterministic_order(tmp_path: Path) -> None:
    root = tmp_path / "exports"
    (root / "b").mkdir(parents=True)
    (root / "a" / "nested").mkdir(parents=True)
    write(root / "b" / "conversations.json", [conv(3)])
    write(root / "a" / "conversations-000.json", [conv(1)])
    write(root / "a" / "user.json", {"not": "read"})
    make_zip(root / "a" / "nested" / "export.zip", {"conversations.json": [conv(2)]})
    write(root / "conversations.json", [conv(0)])
    items = list(read_export([root]))
    assert ids(items) == ["conv-0", "conv-1", "conv-2", "conv-3"]
    assert items[2].source == "a/nested/export.zip:conversations.json[0]"
    assert total_bytes([root]) == sum(
        p.stat().st_size for p in root.rglob("*.json") if p.name != "user.json"
    ) + len(orjson.dumps([conv(2)]))


def test_several_paths_in_order(tmp_path: Path) -> None:
    first = write(tmp_path / "x.json", [conv(1)])
    second = make_zip(tmp_path / "y.zip", {"conversations.json": [conv(2)]})
    assert ids(list(read_export([second, first]))) == ["conv-2", "conv-1"]


# --- bad inputs -------------------------------------------------------------------------------


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(BadImport, match="does not exist"):
        list(read_export([tmp_path / "nope.zip"]))


@pytest.mark.parametrize("content", [b"<!DOCTYPE html><html>", b"hello", b"\xef\xbb\xbf 42"])
def test_file_that_is_neither_json_nor_zip(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "chat.html"
    path.write_bytes(content)
    with pytest.raises(BadImport, match="neither JSON nor a ZIP"):
        list(read_export([path]))


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "conversations.json"
    path.write_bytes(b"")
    with pytest.raises(BadImport, match="empty"):
        list(read_export([path]))


def test_folder_without_exports(tmp_path: Path) -> None:
    write(tmp_path / "user.json", {})
    with pytest.raises(BadImport, match="no conversations"):
        list(read_export([tmp_path]))


def test_zip_without_conversations(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "e.zip", {"user.json": {}, "chat.html": b"<html>"})
    with pytest.raises(BadImport, match=r"no conversations\.json"):
        list(read_export([path]))


def test_damaged_zip(tmp_path: Path) -> None:
    good = make_zip(tmp_path / "good.zip", {"conversations.json": [conv(0)] * 50})
    bad = tmp_path / "bad.zip"
    bad.write_bytes(good.read_bytes()[:200])
    with pytest.raises(BadImport, match="not a readable ZIP"):
        list(read_export([bad]))


def test_non_object_elements_are_reported_and_skipped(tmp_path: Path) -> None:
    path = tmp_path / "conversations.json"
    path.write_bytes(
        b'[{"id": "a", "mapping": {}}, 42, "text", null, [1, 2], {"id": tru}, {"id": "b"}]'
    )
    items = list(read_export([path]))
    assert [i.data is not None for i in items] == [True, False, False, False, False, False, True]
    assert [i.raw for i in items[1:6]] == [b"42", b'"text"', b"null", b"[1, 2]", b'{"id": tru}']
    assert "int" in (items[1].error or "")
    assert "not valid JSON" in (items[5].error or "")
    assert items[6].data == {"id": "b"}
    assert items[5].source == "conversations.json[5]"


def test_truncated_array_yields_complete_elements_then_raises(tmp_path: Path) -> None:
    data = orjson.dumps([conv(0, TRICKY[0]), conv(1, TRICKY[1]), conv(2, TRICKY[2])])
    cut = data.index(b"conv-2") + 3
    path = tmp_path / "conversations.json"
    path.write_bytes(data[:cut])
    seen: list[RawConversation] = []
    with pytest.raises(BadImport, match=rf"conversations.json is truncated.*byte {cut}") as err:
        for item in read_export([path]):
            seen.append(item)
    assert ids(seen) == ["conv-0", "conv-1"]
    assert "download the export again" in str(err.value)


@pytest.mark.parametrize("chunk_size", [1, 7, 1 << 20])
def test_truncation_anywhere(chunk_size: int) -> None:
    elements = [orjson.dumps(conv(i, TRICKY[i])) for i in range(3)]
    data = b"[" + b",".join(elements) + b"]"
    for cut in range(1, len(data) - 1, 37):
        got: list[bytes] = []
        with pytest.raises(BadImport, match="truncated"):
            got.extend(iter_array_elements(io.BytesIO(data[:cut]), chunk_size=chunk_size))
        complete = sum(1 for e in range(3) if len(b"[" + b",".join(elements[: e + 1])) <= cut)
        assert got == elements[:complete], cut


def test_unclosed_array_after_a_complete_element() -> None:
    got: list[bytes] = []
    with pytest.raises(BadImport, match="truncated"):
        got.extend(iter_array_elements(io.BytesIO(b'[{"a": 1}, {"b": [2]}\n')))
    assert got == [b'{"a": 1}', b'{"b": [2]}']


def test_truncated_single_object() -> None:
    with pytest.raises(BadImport, match="truncated"):
        list(iter_array_elements(io.BytesIO(b'{"mapping": {"a": "}'), chunk_size=3))


def test_data_after_the_array(tmp_path: Path) -> None:
    path = tmp_path / "conversations.json"
    path.write_bytes(orjson.dumps([conv(0)]) + b"\n garbage")
    seen: list[RawConversation] = []
    with pytest.raises(BadImport, match="after the end"):
        seen.extend(read_export([path]))
    assert ids(seen) == ["conv-0"]


def test_stray_closing_brace() -> None:
    with pytest.raises(BadImport, match="damaged"):
        list(iter_array_elements(io.BytesIO(b'[{"a": 1}}, {"b": 2}]')))


def test_element_too_large(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chatgpt, "MAX_ELEMENT_BYTES", 1000)
    data = orjson.dumps([conv(0), conv(1, "x" * 5000)])
    got: list[bytes] = []
    with pytest.raises(BadImport, match="larger than"):
        got.extend(iter_array_elements(io.BytesIO(data), chunk_size=100))
    assert got == [orjson.dumps(conv(0))]


# --- the splitter -----------------------------------------------------------------------------


@pytest.mark.parametrize("chunk_size", [1, 2, 3, 7, 13, 64, 1 << 20])
def test_chunk_boundaries_with_tricky_strings(chunk_size: int) -> None:
    payload = [conv(i, text) for i, text in enumerate(TRICKY)]
    payload += [{'k\\"]': TRICKY, "n": [[], {}, [[{}]]], "e": ""}]
    for option in (0, orjson.OPT_INDENT_2):
        data = orjson.dumps(payload, option=option)
        got = split(data, chunk_size)
        assert [orjson.loads(e) for e in got] == orjson.loads(data)


def test_splitter_yields_exactly_the_bytes_of_each_element() -> None:
    pieces = [orjson.dumps(conv(i, t)) for i, t in enumerate(TRICKY)]
    pieces += [b'{ "spaced" : [ 1 , 2 ] }', b"123", b'"s,t]r"', b"[\n]", b"true"]
    data = b"\xef\xbb\xbf[\n  " + b" ,\n\t ".join(pieces) + b"\r\n]\n"
    for chunk_size in (1, 5, 7, 1 << 20):
        assert split(data, chunk_size) == pieces


def test_deep_nesting_falls_back_to_the_slow_path() -> None:
    deep: Any = {"leaf": "]}"}
    for level in range(60):
        deep = {"level": level, "inner": [deep]}
    payload = [conv(0), {"mapping": deep}, conv(1)]
    data = orjson.dumps(payload)
    for chunk_size in (7, 1 << 20):
        assert [orjson.loads(e) for e in split(data, chunk_size)] == payload


def test_large_single_element_across_many_chunks() -> None:
    big = conv(1, ('20 MB-ish \\ " ] } ' * 5000) + "end")
    payload = [conv(0), big, conv(2)]
    data = orjson.dumps(payload)
    got = split(data, chunk_size=4096)
    assert got == [orjson.dumps(c) for c in payload]


json_strings = st.text(alphabet=st.sampled_from(list('ab"\\[]{},: \n\tü🎉\x00/')), max_size=30)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | json_strings,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(json_strings, inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None)
@given(
    elements=st.lists(json_values, max_size=6),
    chunk_size=st.integers(min_value=1, max_value=40),
    pretty=st.booleans(),
)
def test_splitter_matches_orjson(elements: list[Any], chunk_size: int, pretty: bool) -> None:
    data = orjson.dumps(elements, option=orjson.OPT_INDENT_2 if pretty else 0)
    got = split(data, chunk_size)
    assert [orjson.loads(e) for e in got] == elements
    if not pretty:
        assert got == [orjson.dumps(e) for e in elements]


# --- ZIP guards -------------------------------------------------------------------------------


def bomb_zip(path: Path, size: int = 2 * 1024 * 1024) -> Path:
    """A real, highly compressible conversations.json: a valid but empty array."""
    return make_zip(path, {"conversations.json": b"[" + b" " * size + b"]"})


def test_zip_bomb_by_ratio(tmp_path: Path) -> None:
    path = bomb_zip(tmp_path / "bomb.zip")
    info = zipfile.ZipFile(path).getinfo("conversations.json")
    assert info.file_size / info.compress_size > 200
    with pytest.raises(BadImport, match="ZIP bomb"):
        list(read_export([path]))
    assert list(read_export([path], limits=ZipLimits(max_ratio=100_000))) == []


def test_zip_bomb_by_total_size(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "e.zip", {"conversations.json": [conv(0)] * 20})
    with pytest.raises(BadImport, match="PARLEY_MAX_UNZIPPED_BYTES"):
        list(read_export([path], limits=ZipLimits(max_total_bytes=100)))


def test_runtime_counter_stops_a_bomb_whose_declared_check_was_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = bomb_zip(tmp_path / "bomb.zip")
    monkeypatch.setattr(archive, "check_declared", lambda *args: None)
    with pytest.raises(BadImport, match="ZIP bomb"):
        list(read_export([path]))


def test_runtime_counter_catches_more_bytes_than_declared() -> None:
    info = zipfile.ZipInfo("conversations.json")
    info.file_size, info.compress_size = 10, 10
    reader = archive.MemberReader(
        io.BytesIO(b"[" + b" " * 100 + b"]"), "e.zip", info, ZipLimits(), archive.Budget()
    )
    with pytest.raises(BadImport, match="declares"):
        reader.read(50)


def patch_central_sizes(path: Path, name: bytes, file_size: int) -> None:
    """Make the central directory lie about one member's uncompressed size."""
    data = bytearray(path.read_bytes())
    at = data.index(b"PK\x01\x02")
    while data[at + 46 : at + 46 + len(name)] != name:
        at = data.index(b"PK\x01\x02", at + 4)
    struct.pack_into("<I", data, at + 24, file_size)
    path.write_bytes(bytes(data))


def test_lying_header_is_refused(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "e.zip", {"conversations.json": [conv(i) for i in range(30)]})
    patch_central_sizes(path, b"conversations.json", 100)
    seen: list[RawConversation] = []
    with pytest.raises(BadImport):
        seen.extend(read_export([path]))
    assert seen == []


@pytest.mark.parametrize(
    "name", ["../evil.json", "/abs.json", "C:\\evil.json", "a/../../b.json", "x\\..\\y.json"]
)
def test_odd_member_paths_reject_the_archive(tmp_path: Path, name: str) -> None:
    path = make_zip(tmp_path / "e.zip", {"conversations.json": [conv(0)], name: b"{}"})
    with pytest.raises(BadImport, match="unsafe path") as err:
        list(read_export([path]))
    assert repr(name) in str(err.value)


def test_nul_byte_in_member_name(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "e.zip", {"conversations.json": [conv(0)], "evilX.json": b"{}"})
    path.write_bytes(path.read_bytes().replace(b"evilX.json", b"evil\x00.json"))
    with pytest.raises(BadImport, match="unsafe path"):
        list(read_export([path]))


# --- progress, memory, writing ----------------------------------------------------------------


def test_on_bytes_adds_up_to_total_bytes(tmp_path: Path) -> None:
    plain = write(tmp_path / "conversations.json", [conv(i) for i in range(50)], bom=True)
    zipped = make_zip(
        tmp_path / "e.zip",
        {f"conversations-00{n}.json": [conv(n)] * 40 for n in range(3)} | {"user.json": {}},
    )
    calls: list[int] = []
    items = list(read_export([plain, zipped], on_bytes=calls.append))
    assert len(items) == 170
    assert sum(calls) == total_bytes([plain, zipped])
    assert all(n > 0 for n in calls)


def write_big_export(path: Path, target: int) -> int:
    """Stream a ~``target``-byte conversations.json of many small conversations to disk."""
    template = orjson.dumps(conv(0, ('some text, "quoted" and [bracketed]\n' * 20)))
    count = 0
    with path.open("wb") as f:
        f.write(b"[")
        written = 1
        while written < target:
            body = template.replace(b"conv-0", b"conv-%d" % count)
            f.write(b"," if count else b"")
            f.write(body)
            written += len(body) + 1
            count += 1
        f.write(b"]")
    return count


@pytest.mark.slow
def test_memory_stays_bounded_on_a_large_export(tmp_path: Path) -> None:
    path = tmp_path / "conversations.json"
    expected = write_big_export(path, 150 * 1024 * 1024)
    count = 0
    started = time.perf_counter()
    tracemalloc.start()
    try:
        for item in read_export([path]):
            count += item.data is not None
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == expected
    assert peak < 40 * 1024 * 1024, f"peak traced memory {peak / 1e6:.1f} MB"
    assert time.perf_counter() - started < 120


def test_write_export_round_trip(tmp_path: Path) -> None:
    conversations = [conv(i, TRICKY[i % len(TRICKY)]) for i in range(12)]
    out = io.BytesIO()
    assert write_export(iter(conversations), out) == 12
    assert orjson.loads(out.getvalue()) == conversations
    path = tmp_path / "conversations.json"
    with path.open("wb") as f:
        write_export(conversations, f)
    assert [i.data for i in read_export([path])] == conversations
    empty = io.BytesIO()
    assert write_export([], empty) == 0
    assert orjson.loads(empty.getvalue()) == []


def _gen() -> Iterator[dict[str, Any]]:
    yield from (conv(i) for i in range(3))


def test_write_export_streams_a_generator() -> None:
    out = io.BytesIO()
    assert write_export(_gen(), out) == 3
    assert split(out.getvalue()) == [orjson.dumps(conv(i)) for i in range(3)]


def _without_shortcut(monkeypatch: pytest.MonkeyPatch) -> None:
    from parley.formats import chatgpt

    monkeypatch.setattr(chatgpt._Splitter, "_learn", lambda *_args: None)


def _read_bytes(data: bytes) -> list[tuple[bytes, Any, str, str | None]]:
    from parley.formats.chatgpt import _read_stream

    return [(i.raw, i.data, i.source, i.error) for i in _read_stream(io.BytesIO(data), "x", None)]


@pytest.mark.parametrize("chunk", [64, 4096, 1 << 20])
def test_the_shortcut_splits_exactly_as_the_scanner(
    chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nested objects that start like a conversation, elements with another first key, a
    damaged element and a final element: the same elements, bytes and errors either way."""
    from parley.formats import chatgpt

    monkeypatch.setattr(chatgpt, "CHUNK_SIZE", chunk)
    nested = {
        "title": "outer",
        "mapping": {},
        "refs": [{"title": "a", "url": "u"}, {"title": "b"}, {"title": "c", "x": [1]}],
        "note": 'text with ,{"title": inside a string',
    }
    elements = [
        orjson.dumps({"title": "first", "mapping": {}}),
        orjson.dumps(nested),
        orjson.dumps({"id": "no-title-first", "title": "t", "mapping": {}}),
        b'{"title": tru}',
        orjson.dumps({"title": "deep", "mapping": {}, "l": [{"title": str(i)} for i in range(30)]}),
        orjson.dumps({"title": "last", "mapping": {}}),
    ]
    data = b"[" + b",".join(elements) + b"]"
    fast = _read_bytes(data)
    _without_shortcut(monkeypatch)
    slow = _read_bytes(data)
    assert fast == slow
    assert [raw for raw, *_ in fast] == elements
    assert fast[3][1] is None and "not valid JSON" in (fast[3][3] or "")


def test_the_shortcut_is_used_on_a_minified_export(monkeypatch: pytest.MonkeyPatch) -> None:
    from parley.formats import chatgpt

    calls: list[int] = []
    original = chatgpt._Splitter._sliced

    def counting(self: Any, buf: bytes, pos: int) -> Any:
        found = original(self, buf, pos)
        calls.append(found is not None)
        return found

    monkeypatch.setattr(chatgpt._Splitter, "_sliced", counting)
    data = (
        b"[" + b",".join(orjson.dumps({"title": f"t{i}", "mapping": {}}) for i in range(50)) + b"]"
    )
    assert len(_read_bytes(data)) == 50
    assert sum(calls) == 48  # all but the first (which teaches it) and the last
