"""Random ids and the message-content dicts shared by regular conversations and edge cases."""

from __future__ import annotations

import random
from typing import Any

Conversation = dict[str, Any]
_ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def uuid(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"


def b62(rng: random.Random, n: int) -> str:
    return "".join(rng.choices(_ALNUM, k=n))


def text_content(text: str) -> dict[str, Any]:
    return {"content_type": "text", "parts": [text]}


def code_content(text: str, language: str = "unknown") -> dict[str, Any]:
    return {
        "content_type": "code",
        "language": language,
        "response_format_name": None,
        "text": text,
    }


def image_pointer(pointer: str, width: int, height: int, meta: Any = None) -> dict[str, Any]:
    return {
        "content_type": "image_asset_pointer",
        "asset_pointer": pointer,
        "size_bytes": width * height // 3,
        "width": width,
        "height": height,
        "fovea": None,
        "metadata": meta,
    }


def sediment(rng: random.Random) -> str:
    return f"sediment://file_{rng.getrandbits(128):032x}"
