"""The message/node builder and the generation of one regular conversation."""

from __future__ import annotations

import math
import random
from typing import Any

from parley.synth import text as tx
from parley.synth.content import Conversation, b62, code_content, image_pointer, text_content, uuid
from parley.synth.pools import Pools
from parley.synth.timeline import (
    CLIENT_ROOT_SINCE,
    GPT5_SINCE,
    REASONING_MODELS,
    SEARCH_SINCE,
    Calendar,
    pick_model,
)

ROOT = "client-created-root"
_LAST = "\x00last"


class Builder:
    """Message and node factory shared by the regular generator and the edge catalogue."""

    def __init__(
        self, rng: random.Random, t: float, slug: str, *, new_era: bool | None = None
    ) -> None:
        self.rng, self.t0, self.clock, self.slug = rng, t, t, slug
        self.new_era = t >= CLIENT_ROOT_SINCE if new_era is None else new_era
        self.gpt5 = t >= GPT5_SINCE
        self.default_slug = "auto" if self.gpt5 else slug
        self.stop = 200002 if t >= 1_715_558_400.0 else 100260
        self.request_id = f"{rng.getrandbits(64):016x}-IAD"
        root_id = ROOT if self.new_era else "aaa1" + uuid(rng)[4:]
        self.root: dict[str, Any] = {"id": root_id, "message": None, "parent": None, "children": []}
        self.mapping: dict[str, Any] = {root_id: self.root}
        self.last = self.root
        if not self.new_era:
            hidden = {"is_visually_hidden_from_conversation": True}
            self.add(
                "system", text_content(""), end_turn=True, weight=0.0, null_time=True, meta=hidden
            )

    def add(
        self,
        role: str,
        content: dict[str, Any],
        *,
        parent: dict[str, Any] | None = None,
        meta: dict[str, Any] | None = None,
        recipient: str = "all",
        name: str | None = None,
        end_turn: bool | None = None,
        weight: float = 1.0,
        status: str = "finished_successfully",
        dt: float = 3.0,
        null_time: bool = False,
        channel: str | None = None,
    ) -> dict[str, Any]:
        up = self.last if parent is None else parent
        self.clock += dt
        mid = uuid(self.rng)
        metadata: dict[str, Any]
        if role == "assistant":
            metadata = {
                "finish_details": {"type": "stop", "stop_tokens": [self.stop]}
                if end_turn
                else None,
                "is_complete": True,
                "citations": [],
                "content_references": [],
                "model_slug": self.slug,
                "default_model_slug": self.default_slug,
                "parent_id": up["id"],
                "request_id": self.request_id,
                "timestamp_": "absolute",
                "message_type": None,
            }
        elif role == "user":
            if not self.new_era:
                mid = "aaa2" + mid[4:]
            metadata = {
                "request_id": self.request_id,
                "message_source": None,
                "timestamp_": "absolute",
                "message_type": None,
            }
        else:
            metadata = {"is_complete": True, "parent_id": up["id"], "request_id": self.request_id}
        if meta:
            metadata.update(meta)
        message: dict[str, Any] = {
            "id": mid,
            "author": {"role": role, "name": name, "metadata": {}},
            "create_time": None if null_time else int(self.clock * 1e6) / 1e6,
            "update_time": None,
            "content": content,
            "status": status,
            "end_turn": end_turn,
            "weight": weight,
            "metadata": metadata,
            "recipient": recipient,
            "channel": channel,
        }
        node = {"id": mid, "message": message, "parent": up["id"], "children": []}
        self.mapping[mid] = node
        up["children"].append(mid)
        self.last = node
        return node

    def finish(
        self,
        cid: str,
        title: str | None,
        *,
        current: str | None = _LAST,
        cal: Calendar | None = None,
        **extra: Any,
    ) -> Conversation:
        r = self.rng.random
        template = gizmo = gizmo_type = None
        if cal is not None and r() < 0.12:
            if r() < 0.65:
                template = gizmo = cal.projects[int(r() * len(cal.projects))]
                gizmo_type = "snorlax"
            else:
                template = gizmo = cal.gpts[int(r() * len(cal.gpts))]
                gizmo_type = "gpt"
        conv: Conversation = {
            "title": title,
            "create_time": round(self.t0 - 0.2 - r(), 6),
            "update_time": round(self.clock + r(), 6),
            "mapping": self.mapping,
            "moderation_results": [],
            "current_node": self.last["id"] if current == _LAST else current,
            "plugin_ids": None,
            "conversation_id": cid,
            "conversation_template_id": template,
            "gizmo_id": gizmo,
            "gizmo_type": gizmo_type,
            "is_archived": r() < 0.05,
            "is_starred": True if r() < 0.03 else (False if self.new_era else None),
            "safe_urls": [tx.URLS[int(r() * len(tx.URLS))]] if r() < 0.2 else [],
            "blocked_urls": [],
            "default_model_slug": self.default_slug,
            "conversation_origin": None,
            "voice": None,
        }
        if self.new_era:
            conv["async_status"] = None
            conv["disabled_tool_ids"] = []
            conv["is_do_not_remember"] = False
            conv["memory_scope"] = "global_enabled"
        if r() < 0.03:
            conv["x_future_field"] = {
                "enabled": True,
                "version": 2,
                "notes": ["forward-compatible"],
            }
        conv["id"] = cid
        conv.update(extra)
        return conv


def compose(rng: random.Random, blocks: tuple[str, ...], head: str, target: float) -> str:
    """``head`` followed by random blocks until the text reaches ``target`` characters."""
    if len(head) >= target:
        return head
    out, n, r, nb = [head], len(head), rng.random, len(blocks)
    while n < target:
        block = blocks[int(r() * nb)]
        out.append(block)
        n += len(block) + 2
    return "\n\n".join(out)


def regular_conversation(
    rng: random.Random, cal: Calendar, scale: float, p: Pools
) -> tuple[Conversation, int]:
    """One ordinary conversation and the number of length-scaled text characters in it."""
    r = rng.random
    t = cal.time(rng)
    b = Builder(rng, t, pick_model(t, r()))
    cid, blocks = uuid(rng), p.blocks
    reasoning, search = b.slug in REASONING_MODELS, t >= SEARCH_SINCE
    channel = "final" if b.gpt5 else None
    foreign = r() < 0.06
    heads = p.foreign if foreign else p.questions
    log = math.log
    turns = 1 + min(int(-log(1.0 - r()) * 8.6), 250)
    branch_at, edit = (int(r() * turns), r() < 0.5) if r() < 0.1 else (-1, False)
    chars = 0
    for turn in range(turns):
        b.request_id = f"{rng.getrandbits(64):016x}-IAD"
        head = heads[int(r() * len(heads))]
        long = r() < 0.15
        target = 200 - log(1.0 - r()) * 900 if long else 40 - log(1.0 - r()) * 160
        text = compose(rng, blocks, head, target * scale)
        chars += len(text)
        parent = b.last
        gap = 8 - log(1.0 - r()) * 90 if turn else 0.3 + r()
        if turn == branch_at and edit:  # the original wording, answered, then edited below
            b.add("user", text_content(head), dt=gap)
            old = compose(rng, blocks, tx.OPENERS[0], 300 * scale)
            chars += len(old)
            b.add("assistant", text_content(old), end_turn=True, channel=channel)
        content, meta = text_content(text), None
        if r() < 0.02:
            pointer = f"file-service://file-{b62(rng, 22)}"
            image = image_pointer(pointer, 1024, 768)
            content = {"content_type": "multimodal_text", "parts": [image, text]}
            attachment = {"id": pointer[20:], "size": image["size_bytes"], "name": "photo.png"}
            meta = {"attachments": [attachment | {"mime_type": "image/png"}]}
        user = b.add("user", content, parent=parent, meta=meta, dt=gap)
        if turn == branch_at and not edit:  # a first answer, regenerated below
            old = compose(rng, blocks, tx.OPENERS[1], 300 * scale)
            chars += len(old)
            b.add("assistant", text_content(old), end_turn=True, channel=channel)
            b.last = user
        if reasoning and r() < 0.7:
            secs = 2 + int(r() * 40)
            thought = {"summary": "Thinking it through", "content": blocks[int(r() * len(blocks))]}
            thoughts = {
                "content_type": "thoughts",
                "thoughts": [thought | {"chunks": [], "finished": True}],
                "source_analysis_msg_id": uuid(rng),
            }
            b.add("assistant", thoughts, meta={"reasoning_status": "is_reasoning"}, dt=1.0)
            recap = {"content_type": "reasoning_recap", "content": f"Thought for {secs}s"}
            ended = {"reasoning_status": "reasoning_ended", "finished_duration_sec": secs}
            b.add("assistant", recap, meta=ended, dt=secs)
        if r() < 0.04:
            code = tx.CODE["python"].format(n="analyse", N="Analyse")
            b.add("assistant", code_content(code), recipient="python", end_turn=False)
            result = {"status": "success", "code": code, "messages": []}
            output = {"content_type": "execution_output", "text": "6"}
            b.add("tool", output, name="python", meta={"aggregate_result": result})
        target = (100 - log(1.0 - r()) * 420) * scale
        text = compose(rng, blocks, tx.OPENERS[int(r() * 9)], target)
        meta = None
        if search and r() < 0.05:
            marker = "\ue200cite\ue202turn0search0\ue201"
            item = {"title": "Reference", "url": tx.URLS[int(r() * len(tx.URLS))]}
            span = {"start_idx": len(text) + 1, "end_idx": len(text) + 1 + len(marker)}
            ref = {"matched_text": marker, **span, "type": "grouped_webpages", "items": [item]}
            text, meta = f"{text} {marker}", {"content_references": [ref]}
        chars += len(text)
        b.add(
            "assistant",
            text_content(text),
            meta=meta,
            end_turn=True,
            dt=4 + r() * 30,
            channel=channel,
        )
        if r() < 0.03:
            b.clock += 86400 * rng.randint(1, 9)
    if r() < 0.03:
        title = None
    elif foreign:
        title = tx.LANGUAGE_TITLES[int(r() * len(tx.LANGUAGE_TITLES))]
    else:
        title = p.titles[int(r() * len(p.titles))]
    return b.finish(cid, title, cal=cal), chars
