"""Streaming reader (and writer) for ChatGPT data exports.

:func:`read_export` accepts any mix of these paths, in the order given:

* the export ZIP: legacy (``conversations.json``) or sharded (``conversations-NNN.json``,
  read in ``export_manifest.json`` order, else in numeric order), at the root of the
  archive or inside one top-level folder; all other members are ignored;
* a JSON file holding an array of conversations (``conversations.json``, a shard),
  an object wrapping it as ``{"conversations": [...]}``, or one backend-api conversation
  (an object with ``mapping``);
* a folder, walked recursively in natural sort order, picking ``conversations*.json``
  (in manifest order when the folder has ``export_manifest.json``) and ``*.zip``.

JSON may start with a UTF-8 BOM and have whitespace anywhere.

Streaming guarantee: input is read in chunks and split into top-level elements by a
byte-level scanner, so memory is bounded by the largest single conversation plus one
chunk (elements over :data:`MAX_ELEMENT_BYTES` are refused), never by the file size.
Each element is yielded as a :class:`RawConversation` with its exact bytes.

Splitting a minified array (what ChatGPT writes) takes a shortcut: once the first
element shows its first key ``K``, the next element is taken to start at the next
``,{"K":``, and the bytes up to there are handed to orjson. From a true element start,
a slice that parses completely is exactly one element (JSON values are prefix-free), so
a slice that parses proves the next start; one that does not (``,{"K":`` inside an
element, or a damaged element) is extended to the next such place a few times, then
left to the scanner. Either way the elements, their bytes and the errors are the same.

Errors: :class:`~parley.errors.BadImport` (with a message saying what to do) for a
missing path, a file that is neither JSON nor ZIP, a ZIP without conversations, a ZIP
bomb or unsafe member path (see :mod:`parley.formats.archive`), an element that is too
large, and truncated JSON — the latter only after every complete element before the
break has been yielded. One element that is not an object or not valid JSON does not
stop the import: it is yielded with ``data=None`` and ``error`` set.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import orjson

from parley.errors import BadImport
from parley.formats import archive
from parley.formats.archive import ZipLimits

__all__ = [
    "MAX_ELEMENT_BYTES",
    "RawConversation",
    "ZipLimits",
    "iter_array_elements",
    "read_export",
    "total_bytes",
    "write_export",
]

MAX_ELEMENT_BYTES = 128 * 1024**2
CHUNK_SIZE = 1 << 20
OnBytes = Callable[[int], None] | None

_BOM = b"\xef\xbb\xbf"
_STRING = rb'"(?:[^"\\]++|\\.)*+'
# Inside an element: skip everything but brackets; a lone '"' is an unterminated string.
_INNER = re.compile(rb'(?:[^"\[\]{}]++|' + _STRING + rb'")*+[\[\]{}"]', re.S)
# Between elements: also stop at commas.
_OUTER = re.compile(rb'(?:[^"\[\]{},]++|' + _STRING + rb'")*+[\[\]{},"]', re.S)
# At the key level of a top-level object: one token (string or punctuation) at a time.
_TOKEN = re.compile(rb'[^"\[\]{},:]*+(?:"((?:[^"\\]++|\\.)*+)(")?|[\[\]{},:])', re.S)


def _nested(levels: int) -> bytes:
    """One array or object nested at most ``levels`` deep (``re`` has no recursion)."""
    string = rb'"[^"\\]*+(?:\\.[^"\\]*+)*+"'
    other = rb'[^"\[\]{}]*+'
    value = rb"[\[{]" + other + rb"(?:" + string + other + rb")*+[\]}]"
    for _ in range(levels):
        value = rb"[\[{]" + other + rb"(?:(?:" + string + rb"|" + value + rb")" + other
        value += rb")*+[\]}]"
    return value


# A whole element and the ',' or ']' after it.
_ELEMENT = re.compile(rb"[ \t\r\n]*+(" + _nested(32) + rb")[ \t\r\n]*+[,\]]", re.S)
_NON_WS = re.compile(rb"[^ \t\r\n]")
_QUOTE, _COMMA, _COLON = 0x22, 0x2C, 0x3A
_OPEN_A, _CLOSE_A, _OPEN_O, _CLOSE_O = 0x5B, 0x5D, 0x7B, 0x7D
_OPENERS = frozenset({_OPEN_A, _OPEN_O})
_FIRST_KEY = re.compile(rb'\{("(?:[^"\\]|\\.)*"):')
MAX_MERGES = 8  # slices joined while looking for an element's end, before the scanner
_UNPARSED = object()


@dataclass(frozen=True)
class RawConversation:
    raw: bytes  # the exact JSON bytes of this conversation element (used for hashing)
    data: dict[str, Any] | None  # parsed with orjson; None if not a JSON object / unparsable
    source: str  # e.g. "conversations-003.json[17]" or "export.zip:conversations.json[4]"
    error: str | None = None  # why data is None


class _Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class _Splitter:
    """Splits one JSON document into its top-level elements, chunk by chunk."""

    def __init__(self, stream: _Readable, source: str, chunk_size: int, on_bytes: OnBytes) -> None:
        self.stream, self.source, self.on_bytes = stream, source, on_bytes
        self.chunk_size = max(1, chunk_size)
        self.buf = b""
        self.base = 0  # offset in the input of buf[0]
        self.pos = 0
        self.eof = False
        self.shape: str | None = None  # "array", "wrapped" or "object"
        self.count = 0
        self.parsed: Any = _UNPARSED  # the last element yielded, parsed, when that was free
        self._next: bytes | None = None  # b',{"K":' once the first element showed K
        self._first: bytes | None = None  # the first element, when the scanner's slow path read it

    def _more(self, keep: int) -> bool:
        """Drop ``buf[:keep]`` and append the next chunk; False at the end of input."""
        kept = len(self.buf) - keep
        if kept > MAX_ELEMENT_BYTES + self.chunk_size:
            raise BadImport(
                f"{self.source}: the element starting at byte {self.base + keep} is larger "
                f"than {MAX_ELEMENT_BYTES // 1024**2} MB, far beyond any real conversation; "
                "the file is probably damaged. Download the export again."
            )
        if self.eof:
            return False
        data = self.stream.read(max(self.chunk_size, kept // 2))
        if not data:
            self.eof = True
            return False
        if self.on_bytes is not None:
            self.on_bytes(len(data))
        self.buf = b"".join((memoryview(self.buf)[keep:], data)) if kept else data
        self.base += keep
        return True

    def _damaged(self, pos: int, what: str) -> BadImport:
        return BadImport(
            f"{self.source}: {what} at byte {self.base + pos}; the file is damaged. "
            "Download the export again."
        )

    def _truncated(self, start: int) -> BadImport:
        return BadImport(
            f"{self.source} is truncated: the JSON stops at byte {self.base + len(self.buf)} "
            f"before it is closed (the last element starts at byte {self.base + start}). The "
            f"{self.count} complete elements before that were read; download the export again "
            "to import the rest."
        )

    def elements(self) -> Iterator[bytes]:
        while len(self.buf) < len(_BOM) and self._more(0):
            pass
        pos = len(_BOM) if self.buf.startswith(_BOM) else 0
        while (m := _NON_WS.search(self.buf, pos)) is None:
            if not self._more(len(self.buf)):
                raise BadImport(f"{self.source} is empty; give the export ZIP or its JSON.")
            pos = 0
        pos = m.start()
        first = self.buf[pos]
        if first == _OPEN_A:
            self.shape = "array"
            yield from self._array(pos + 1)
        elif first == _OPEN_O:
            yield from self._object(pos)
        else:
            head = self.buf[pos : pos + 20]
            raise BadImport(
                f"{self.source} is neither JSON nor a ZIP (it starts with {head!r}); give the "
                "ChatGPT export ZIP, its conversations.json, or a folder holding them."
            )
        pos = self.pos
        while (m := _NON_WS.search(self.buf, pos)) is None:
            if not self._more(len(self.buf)):
                return
            pos = 0
        raise self._damaged(m.start(), "unexpected data after the end of the JSON")

    def _sliced(self, buf: bytes, pos: int) -> tuple[bytes, Any, int] | None:
        """The element at ``pos`` found by the shortcut (see the module docstring):
        (its bytes, parsed, where the next one starts), or None to leave it to the scanner.
        """
        marker = self._next
        assert marker is not None
        end = buf.find(marker, pos + 1)
        for _ in range(MAX_MERGES):
            if end < 0:
                return None
            raw = buf[pos:end]
            try:
                return raw, orjson.loads(raw), end + 1
            except orjson.JSONDecodeError:
                end = buf.find(marker, end + 1)
        return None

    def _learn(self, raw: bytes, buf: bytes, after: int) -> None:
        """After the first element: the shortcut's marker, if the second starts like it."""
        m = _FIRST_KEY.match(raw)
        if m is not None and buf[after - 1] == _COMMA:
            marker = b",{" + m.group(1) + b":"
            if buf.startswith(marker[1:], after):
                self._next = marker

    def _array(self, pos: int) -> Iterator[bytes]:
        """Yield the elements of the array whose ``[`` ends just before ``pos``."""
        fast, buf, retried = _ELEMENT.match, self.buf, False
        while True:
            if self._next is not None:
                sliced = self._sliced(buf, pos)
                if sliced is not None:  # an element proved by orjson: the common case
                    raw, self.parsed, pos = sliced
                    self.count += 1
                    yield raw
                    self.parsed = _UNPARSED
                    continue
            m = fast(buf, pos)
            if m is not None:  # one whole element in one C call
                self.count += 1
                yield m.group(1)
                pos, retried = m.end(), False
                if self.count == 1 and self.shape is not None:
                    self._learn(m.group(1), buf, pos)
                if buf[pos - 1] == _CLOSE_A:
                    self.pos = pos
                    return
                continue
            if not retried and len(buf) - pos < self.chunk_size and self._more(pos):
                # the buffer probably ends inside this element: read on and try again
                buf, pos, retried = self.buf, 0, True
                continue
            if (yield from self._one(pos)):
                return
            buf, pos, retried = self.buf, self.pos, False
            if self.count == 1 and self._first is not None and self.shape is not None:
                self._learn(self._first, buf, pos)

    def _one(self, pos: int) -> Generator[bytes, None, bool]:
        """Slow path: one element (or the end of the array) from ``pos``, reading on as needed.

        Used where the buffer ends inside an element, for scalars and very deep nesting.
        Returns True at the end of the array; ``self.pos`` is where to go on.
        """
        inner, outer = _INNER.match, _OUTER.match
        buf, seg, depth = self.buf, pos, 0
        while True:
            m = inner(buf, pos) if depth else outer(buf, pos)
            if m is None:
                pos = len(buf)
            elif (c := buf[m.end() - 1]) != _QUOTE:
                pos = m.end()
                if c in _OPENERS:
                    depth += 1
                elif depth:
                    depth -= 1
                elif c == _CLOSE_O:
                    raise self._damaged(pos - 1, "a '}' where the list should continue")
                else:
                    self.pos, last = pos, buf[seg : pos - 1].strip()
                    if c == _COMMA or last:
                        self.count += 1
                        self._first = last if self.count == 1 else None
                        yield last
                    return c == _CLOSE_A
                continue
            else:
                pos = m.end() - 1  # an unterminated string: resume at its quote
            if not self._more(seg):
                last = buf[seg:].strip()
                if not depth and last[-1:] in (b"}", b"]"):
                    self.count += 1
                    yield last
                raise self._truncated(seg)
            buf, pos, seg = self.buf, pos - seg, 0

    def _object(self, start: int) -> Iterator[bytes]:
        """A top-level object: stream its ``conversations`` list, or yield it whole."""
        buf, pos, depth = self.buf, start + 1, 1
        key: bytes | None = None
        pending: bytes | None = None
        while True:
            m = _TOKEN.match(buf, pos) if depth == 1 else _INNER.match(buf, pos)
            if m is None:
                pos = len(buf)
            elif depth == 1 and m.group(1) is not None:  # a string
                if m.group(2) is None:
                    pos = m.start(1) - 1
                else:
                    pending, key = (m.group(1), None) if key is None else (None, None)
                    pos = m.end()
                    continue
            elif depth > 1 and buf[m.end() - 1] == _QUOTE:
                pos = m.end() - 1
            else:
                pos = m.end()
                c = buf[pos - 1]
                if depth > 1:
                    depth += 1 if c in _OPENERS else -1
                elif c == _COLON:
                    key, pending = pending, None
                elif c == _COMMA:
                    key = pending = None
                elif c == _OPEN_A and key == b"conversations" and self.shape is None:
                    self.shape = "wrapped"
                    yield from self._array(pos)
                    buf, pos, key = self.buf, self.pos, None
                elif c in _OPENERS:
                    depth, key = 2, None
                elif c == _CLOSE_O:
                    if self.shape is None:
                        self.shape = "object"
                        self.count += 1
                        yield buf[start:pos]
                    self.pos = pos
                    return
                else:
                    raise self._damaged(pos - 1, "an unexpected ']'")
                continue
            keep = start if self.shape is None else pos
            if not self._more(keep):
                raise self._truncated(start if self.shape is None else pos)
            buf, pos, start = self.buf, pos - keep, start - keep


def iter_array_elements(
    stream: BinaryIO, *, chunk_size: int = CHUNK_SIZE, on_bytes: OnBytes = None
) -> Iterator[bytes]:
    """Exact bytes of each element of the top-level array (or ``conversations`` list).

    A single top-level object without a ``conversations`` list is yielded whole.
    """
    return _Splitter(stream, "<stream>", chunk_size, on_bytes).elements()


def _parse(raw: bytes, source: str) -> RawConversation:
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return RawConversation(raw, None, source, f"not valid JSON: {exc}")
    if not isinstance(data, dict):
        kind = "null" if data is None else type(data).__name__
        return RawConversation(raw, None, source, f"expected a conversation object, got {kind}")
    return RawConversation(raw, data, source)


def _read_stream(stream: _Readable, label: str, on_bytes: OnBytes) -> Iterator[RawConversation]:
    splitter = _Splitter(stream, label, CHUNK_SIZE, on_bytes)
    for index, raw in enumerate(splitter.elements()):
        if splitter.shape != "object":
            data = splitter.parsed
            if data is _UNPARSED or not isinstance(data, dict):
                yield _parse(raw, f"{label}[{index}]")
            else:
                yield RawConversation(raw, data, f"{label}[{index}]")
            continue
        conversation = _parse(raw, label)
        if conversation.data is not None and "mapping" not in conversation.data:
            raise BadImport(
                f'{label} is a JSON object but neither a conversation (no "mapping") nor '
                'an export ({"conversations": [...]}); give the export ZIP or conversations.json.'
            )
        yield conversation


def total_bytes(paths: Sequence[Path]) -> int:
    """Bytes :func:`read_export` will consume: unpacked member sizes, else file sizes."""
    return sum(item.size for item in archive.plan(paths, None))


def read_export(
    paths: Sequence[Path], *, limits: ZipLimits = ZipLimits(), on_bytes: OnBytes = None
) -> Iterator[RawConversation]:
    """Every conversation element of ``paths``, streamed; see the module docstring."""
    for item in archive.plan(paths, limits):
        if item.members is None:
            with item.path.open("rb") as f:
                yield from _read_stream(f, item.label, on_bytes)
            continue
        budget = archive.Budget()
        with archive.open_zip(item.path, item.label) as zf:
            for name in item.members:
                info = zf.getinfo(name)
                stream, reader = archive.open_member(zf, info, item.label, limits, budget)
                with stream:
                    yield from _read_stream(reader, f"{item.label}:{name}", on_bytes)


def write_export(conversations: Iterable[dict[str, Any]], out: BinaryIO) -> int:
    """Stream ``conversations`` to ``out`` as a JSON array; returns how many were written."""
    count = 0
    out.write(b"[")
    for conversation in conversations:
        out.write(b",\n" if count else b"\n")
        out.write(orjson.dumps(conversation))
        count += 1
    out.write(b"\n]\n" if count else b"]\n")
    return count
