"""Export files: the slim transformation and the streaming JSON / ZIP writers."""

from __future__ import annotations

import struct
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any, Literal

import orjson

from parley.synth.content import Conversation

SLIM_DROP = frozenset({"status", "weight", "end_turn", "recipient"})
USER_ID = "user-Synth3t1cDemoUser0000"


def slim(conversation: Conversation) -> Conversation:
    """The 2026 slim shape: no node ``children``; no message status/weight/end_turn/recipient.

    Returns a new conversation (and new node and message dicts); nested content and
    metadata objects are shared with the input, which is not modified.
    """
    out = dict(conversation)
    mapping = conversation.get("mapping")
    if isinstance(mapping, dict):
        nodes: dict[str, Any] = {}
        for key, node in mapping.items():
            if isinstance(node, dict):
                node = {k: v for k, v in node.items() if k != "children"}
                message = node.get("message")
                if isinstance(message, dict):
                    node["message"] = {k: v for k, v in message.items() if k not in SLIM_DROP}
            nodes[key] = node
        out["mapping"] = nodes
    return out


_slim = slim


def _write_array(fh: IO[bytes], items: Iterable[Any]) -> int:
    """Write ``items`` as one JSON array, element by element; return the bytes written."""
    fh.write(b"[")
    size = 2
    for n, item in enumerate(items):
        data = orjson.dumps(item)
        if n:
            fh.write(b",")
            size += 1
        fh.write(data)
        size += len(data)
    fh.write(b"]")
    return size


def write_conversations_json(
    path: Path, conversations: Iterable[Conversation], *, wrapped: bool = False
) -> Path:
    """Stream a bare ``conversations.json`` array, or ``{"conversations": [...]}``."""
    path = Path(path)
    with path.open("wb") as fh:
        if wrapped:
            fh.write(b'{"conversations":')
        _write_array(fh, conversations)
        if wrapped:
            fh.write(b"}")
    return path


def _png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 6, 0, 0, 0)
    pixels = zlib.compress(b"\x00\x80\x80\xff\xff")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


_PNG = _png()
_WAV = b"RIFF" + struct.pack(
    "<I4s4sIHHIIHH4sI", 36, b"WAVE", b"fmt ", 16, 1, 1, 24_000, 48_000, 2, 16, b"data", 0
)


class _Extras:
    """What the side files of an export need, collected while conversations stream past."""

    def __init__(self) -> None:
        self.assets: dict[str, str] = {}  # file id -> original file name
        self.feedback: list[dict[str, Any]] = []
        self.seen = 0

    def note(self, conv: Conversation) -> None:
        self.seen += 1
        mapping = conv.get("mapping")
        for node in mapping.values() if isinstance(mapping, dict) else ():
            message = node.get("message") if isinstance(node, dict) else None
            content = message.get("content") if isinstance(message, dict) else None
            if not isinstance(content, dict):
                continue
            kind = content.get("content_type")
            if kind == "multimodal_text" and isinstance(content.get("parts"), list):
                for part in content["parts"]:
                    if isinstance(part, dict):
                        self._pointer(part)
                        if isinstance(part.get("audio_asset_pointer"), dict):
                            self._pointer(part["audio_asset_pointer"])
            elif kind == "computer_output" and isinstance(content.get("screenshot"), dict):
                self._pointer(content["screenshot"])
        if self.seen % 37 == 5 and conv.get("current_node"):
            self.feedback.append(
                {
                    "id": f"{self.seen:08x}-feed-4bac-a000-{self.seen:012x}",
                    "conversation_id": conv.get("id", conv.get("conversation_id")),
                    "message_id": conv["current_node"],
                    "user_id": USER_ID,
                    "rating": "thumbsDown" if self.seen % 3 == 0 else "thumbsUp",
                    "content": '{"tags": [], "text": ""}',
                    "workspace_id": None,
                }
            )

    def _pointer(self, part: dict[str, Any]) -> None:
        pointer = part.get("asset_pointer")
        if isinstance(pointer, str) and "://" in pointer:
            audio = part.get("content_type") == "audio_asset_pointer"
            file_id = pointer.split("://", 1)[1]
            self.assets.setdefault(file_id, f"{file_id[-8:]}.{'wav' if audio else 'png'}")


def write_export_zip(
    path: Path,
    conversations: Iterable[Conversation],
    *,
    layout: Literal["legacy", "sharded"] = "legacy",
    slim: bool = False,
    shard_size: int = 100,
) -> Path:
    """Write a ChatGPT data-export ZIP, streaming conversations one by one.

    ``legacy``: ``conversations.json`` (zip64), ``user.json``, ``message_feedback.json``, a
    ``chat.html`` stub and ``file-...-name`` assets. ``sharded`` (2026):
    ``conversations-000.json`` ... (``shard_size`` each, at least one shard),
    ``user_settings.json``, ``conversation_asset_file_names.json``, ``file_....dat``
    assets and ``export_manifest.json`` listing every other member with its size.
    Assets are tiny placeholder PNG/WAV files for the pointers found in the messages.
    """
    if layout not in ("legacy", "sharded"):
        raise ValueError(f"unknown layout {layout!r}")
    if shard_size < 1:
        raise ValueError("shard_size must be >= 1")
    path = Path(path)
    extras = _Extras()

    def prepared() -> Iterator[Conversation]:
        for conv in conversations:
            extras.note(conv)
            yield _slim(conv) if slim else conv

    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        if layout == "legacy":
            with zf.open("conversations.json", "w", force_zip64=True) as fh:
                _write_array(fh, prepared())
            user = {
                "id": USER_ID,
                "email": "demo@parley.invalid",
                "chatgpt_plus_user": True,
                "birth_year": None,
                "phone_number": None,
            }
            zf.writestr("user.json", orjson.dumps(user))
            zf.writestr("message_feedback.json", orjson.dumps(extras.feedback))
            zf.writestr("chat.html", _CHAT_HTML)
            for file_id, name in extras.assets.items():
                zf.writestr(f"{file_id}-{name}", _WAV if name.endswith(".wav") else _PNG)
            return path
        files: list[dict[str, Any]] = []
        stream = prepared()
        pending = next(stream, None)

        def shard() -> Iterator[Conversation]:
            nonlocal pending
            for _ in range(shard_size):
                if pending is None:
                    return
                yield pending
                pending = next(stream, None)

        while True:  # at least one shard, even for an empty export
            name = f"conversations-{len(files):03d}.json"
            with zf.open(name, "w") as fh:
                files.append({"path": name, "size_bytes": _write_array(fh, shard())})
            if pending is None:
                break
        side: dict[str, bytes] = {
            "user_settings.json": orjson.dumps(
                {
                    "user_id": USER_ID,
                    "settings": {
                        "training_allowed": False,
                        "voice_name": "maple",
                        "show_expanded_code_view": True,
                    },
                }
            ),
            "conversation_asset_file_names.json": orjson.dumps(
                {f"{file_id}.dat": name for file_id, name in extras.assets.items()}
            ),
        }
        for file_id, name in extras.assets.items():
            side[f"{file_id}.dat"] = _WAV if name.endswith(".wav") else _PNG
        for name, data in side.items():
            zf.writestr(name, data)
            files.append({"path": name, "size_bytes": len(data)})
        zf.writestr("export_manifest.json", orjson.dumps({"version": 1, "export_files": files}))
    return path


_CHAT_HTML = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>ChatGPT Data Export</title></head>
<body><div id="root"></div>
<script>/* stub: real exports embed conversations.json here */ var jsonData = [];</script>
</body></html>
"""
