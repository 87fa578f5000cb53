"""Edge cases for content types: Markdown, images, voice, context, app pairing, unknown."""

from __future__ import annotations

import random
from typing import Any

import orjson

from parley.synth import text as tx
from parley.synth.content import Conversation, b62, image_pointer, sediment, text_content
from parley.synth.edges_kit import EdgeBuilder, begin, chat, registrar

CASES: dict[str, EdgeBuilder] = {}
_edge = registrar(CASES)


def _audio(rng: random.Random, seconds: float) -> dict[str, Any]:
    return {
        "content_type": "audio_asset_pointer",
        "asset_pointer": sediment(rng),
        "size_bytes": int(seconds * 48_000),
        "format": "wav",
        "metadata": {"start_timestamp": None, "end_timestamp": None, "start": 0.0, "end": seconds},
    }


def _said(text: str, direction: str) -> dict[str, Any]:
    return {"content_type": "audio_transcription", "text": text, "direction": direction}


@_edge("rich-markdown")
def _e_markdown(rng: random.Random, t: float) -> Conversation:
    b, cid = begin(rng, t, "rich-markdown")
    b.add(
        "user", text_content("Show me code in several languages, a table, math, lists and links.")
    )
    parts = [
        "# Markdown showcase",
        "Inline `code`, **bold**, _italic_, ~~strike~~, [a link](https://example.com).",
    ]
    parts += [
        f"```{lang}\n{code.format(n='demo', N='Demo')}\n```" for lang, code in tx.CODE.items()
    ]
    parts.append(
        "| Model | Year | Notes |\n|---|:-:|--:|\n| gpt-4 | 2023 | `text` |\n| gpt-4o | 2024 | 🖼️ |"
    )
    parts += [m.format(t="the estimator") for m in tx.MATH]
    parts.append("1. first\n2. second\n   - nested\n   - [ ] a task\n3. third\n\n---\n\n> quoted")
    parts += [*tx.FOREIGN[:6], " ".join(tx.EMOJI)]
    b.add("assistant", text_content("\n\n".join(parts)), end_turn=True)
    return b.finish(cid, "Markdown showcase")


@_edge("image-upload")
def _e_image_upload(rng: random.Random, t: float) -> Conversation:
    b, cid = begin(rng, t, "image-upload")
    pointer = f"file-service://file-{b62(rng, 22)}"
    image = image_pointer(pointer, 1024, 768)
    attachment = {"id": pointer[20:], "size": image["size_bytes"], "name": "IMG_2041.jpeg"}
    meta = {"attachments": [attachment | {"mime_type": "image/jpeg", "width": 1024, "height": 768}]}
    content = {"content_type": "multimodal_text", "parts": [image, "What's in this picture?"]}
    b.add("user", content, meta=meta)
    b.add("assistant", text_content("A tabby cat asleep on a keyboard. 🐈"), end_turn=True)
    return b.finish(cid, "Cat photo")


@_edge("dalle-image")
def _e_dalle(rng: random.Random, t: float) -> Conversation:
    b, cid = begin(rng, t, "dalle-image")
    prompt = "A watercolor painting of a lighthouse on a cliff during a storm"
    b.add("user", text_content("Draw a lighthouse in a storm, watercolor style."))
    call = orjson.dumps({"prompt": prompt, "size": "1024x1024", "n": 1}).decode()
    b.add("assistant", text_content(call), recipient="dalle.text2im", end_turn=False)
    gen_id = b62(rng, 16)
    dalle = {
        "gen_id": gen_id,
        "prompt": prompt,
        "seed": rng.getrandbits(31),
        "parent_gen_id": None,
        "edit_op": None,
        "serialization_title": "DALL-E generation metadata",
    }
    image = image_pointer(
        sediment(rng), 1024, 1024, {"dalle": dalle, "gizmo": None, "generation": None}
    )
    b.add("tool", {"content_type": "multimodal_text", "parts": [image]}, name="dalle.text2im")
    b.add("tool", text_content("DALL·E displayed 1 images."), name="dalle.text2im")
    b.add("assistant", text_content("Here is your stormy lighthouse."), end_turn=True)
    b.add("user", text_content("Now make it a sunny day."))
    generation = {
        "gen_id": b62(rng, 16),
        "gen_size": "image",
        "seed": None,
        "parent_gen_id": gen_id,
        "height": 1536,
        "width": 1024,
        "transparent_background": False,
        "serialization_title": "Image Generation metadata",
    }
    image = image_pointer(sediment(rng), 1024, 1536, {"dalle": None, "generation": generation})
    b.add("tool", {"content_type": "multimodal_text", "parts": [image]}, name="image_gen")
    b.add("assistant", text_content("Sunny version ☀️"), end_turn=True)
    return b.finish(cid, "Lighthouse painting")


@_edge("voice")
def _e_voice(rng: random.Random, t: float) -> Conversation:
    b, cid = begin(rng, t, "voice")
    ask = _said("Hey, what's a good name for a golden retriever?", "in")
    b.add("user", {"content_type": "multimodal_text", "parts": [ask, _audio(rng, 3.2)]})
    reply = _said("How about Sunny, Maple or Biscuit?", "out")
    b.add("assistant", {"content_type": "multimodal_text", "parts": [reply, _audio(rng, 2.1)]})
    live: dict[str, Any] = {
        "content_type": "real_time_user_audio_video_asset_pointer",
        "expiry_datetime": None,
        "frames_asset_pointers": [],
        "video_container_asset_pointer": None,
        "audio_asset_pointer": _audio(rng, 4.0),
        "audio_start_timestamp": 12.48,
    }
    content = {"content_type": "multimodal_text", "parts": [live, _said("Can you see him?", "in")]}
    b.add("user", content)
    reply = _said("Yes! He looks very happy.", "out")
    b.add("assistant", {"content_type": "multimodal_text", "parts": [reply, _audio(rng, 1.7)]})
    return b.finish(cid, "Dog names", voice="maple")


@_edge("custom-instructions")
def _e_custom_instructions(rng: random.Random, t: float) -> Conversation:
    b, cid = begin(rng, t, "custom-instructions")
    hidden = {"is_visually_hidden_from_conversation": True}
    b.add("system", text_content(""), weight=0.0, end_turn=True, meta=hidden)
    about, how = "I'm a data engineer in Berlin.", "Be concise. Use metric units."
    context = {
        "content_type": "user_editable_context",
        "user_profile": f"The user provided the following information about themselves:\n{about}",
        "user_instructions": f"How the user would like you to respond:\n{how}",
    }
    data = {"about_user_message": about, "about_model_message": how}
    b.add(
        "user",
        context,
        meta=hidden | {"user_context_message_data": data, "is_user_system_message": True},
    )
    memory = {
        "content_type": "model_editable_context",
        "model_set_context": "1. [2025-01-03]. Prefers Python.",
        "repository": None,
        "repo_summary": None,
        "structured_context": None,
    }
    b.add("assistant", memory, meta=hidden)
    chat(b, "How far is Hamburg?", "About 290 km by road.")
    return b.finish(cid, "Distance to Hamburg")


@_edge("app-pairing")
def _e_app_pairing(rng: random.Random, t: float) -> Conversation:
    b, cid = begin(rng, t, "app-pairing")
    code = 'struct ContentView: View {\n    var body: some View { Text("Hi") }\n}'
    pairing = {
        "content_type": "app_pairing_content",
        "title": "Xcode — ContentView.swift",
        "text": code,
        "workspaces": [{"app_name": "Xcode", "title": "ContentView.swift", "workspace_id": "ws-1"}],
        "context_parts": [{"workspace_id": "ws-1", "text": code}],
    }
    b.add("user", pairing)
    chat(b, "Why doesn't my preview update?", "Try **Editor ▸ Canvas ▸ Refresh** (⌥⌘P).")
    return b.finish(cid, "SwiftUI preview")


@_edge("unknown-type")
def _e_unknown(rng: random.Random, t: float) -> Conversation:
    b, cid = begin(rng, t, "unknown-type")
    b.add("user", text_content("Show me the solar system as a hologram."))
    hologram = {
        "content_type": "x_hologram",
        "projection": {"kind": "volumetric", "fps": 24, "frames": 96},
        "anchor": [0.0, 1.2, -0.5],
        "text": "A rotating hologram of the solar system.",
    }
    b.add("assistant", hologram, end_turn=True)
    return b.finish(cid, "Hologram")
