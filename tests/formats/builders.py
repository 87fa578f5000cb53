"""Export-shaped conversations for the format tests: ``msg``, ``Conv`` and ``sample``."""

from __future__ import annotations

from typing import Any

HOSTILE_TITLE = (
    'He said: "hi" --- \n# not a heading\n<script>alert(1)</script> ünï 🎉 \\ \x85\u2028'
)


def msg(
    who: str,
    text: str | None = None,
    *,
    content: dict[str, Any] | None = None,
    meta: dict[str, Any] | None = None,
    recipient: str = "all",
    name: str | None = None,
    model: str | None = None,
) -> dict[str, Any]:
    metadata = dict(meta or {})
    if model:
        metadata["model_slug"] = model
    return {
        "author": {"role": who, "name": name, "metadata": {}},
        "content": content or {"content_type": "text", "parts": [text or ""]},
        "status": "finished_successfully",
        "metadata": metadata,
        "recipient": recipient,
    }


class Conv:
    """Builds an export-shaped conversation; children lists are in insertion order."""

    def __init__(self, **fields: Any) -> None:
        self.mapping: dict[str, Any] = {
            "client-created-root": {
                "id": "client-created-root",
                "message": None,
                "parent": None,
                "children": [],
            }
        }
        self.fields = fields
        self.clock = 1_700_000_000.0

    def add(self, node_id: str, parent: str, message: dict[str, Any]) -> str:
        self.clock += 10
        message = {**message, "id": node_id, "create_time": self.clock}
        self.mapping[node_id] = {
            "id": node_id,
            "message": message,
            "parent": parent,
            "children": [],
        }
        self.mapping[parent]["children"].append(node_id)
        return node_id

    def build(self, current: str | None) -> dict[str, Any]:
        return {
            "id": "conv-1",
            "conversation_id": "conv-1",
            "title": "Test",
            "create_time": 1_700_000_000.123456,
            "update_time": 1_700_000_999.5,
            "mapping": self.mapping,
            "current_node": current,
            "default_model_slug": None,
            **self.fields,
        }


LEGACY_TEXT = "Paris is the capital【11†source】 and it is big【12†source】."
NEW_TEXT = (
    "Rome is old \ue200cite\ue202turn0search3\ue201"
    ' and \ue200entity\ue202["city","Milan"]\ue201 too.'
)


def sample(**fields: Any) -> dict[str, Any]:
    """root -> hidden system -> u1 -> {a1 (old regenerate), a1b (visible)} -> ..."""
    conv = Conv(**fields)
    conv.add("sys", "client-created-root", msg("system", ""))
    conv.add("u1", "sys", msg("user", "Hello <script>alert(1)</script>"))
    conv.add("a1", "u1", msg("assistant", "OLD ANSWER", model="gpt-4"))
    start = LEGACY_TEXT.index("【11")
    second = LEGACY_TEXT.index("【12")
    citations = [
        {
            "start_ix": start,
            "end_ix": start + len("【11†source】"),
            "metadata": {"title": "Paris [wiki]", "url": "https://en.wikipedia.org/wiki/Paris"},
        },
        {
            "start_ix": second,
            "end_ix": second + len("【12†source】"),
            "metadata": {"title": "Size", "url": "https://example.com/size (big)"},
        },
    ]
    conv.add(
        "a1b", "u1", msg("assistant", LEGACY_TEXT, meta={"citations": citations}, model="gpt-4o")
    )
    conv.add("u2", "a1b", msg("user", "Compute, and look: ![img]"))
    thoughts = {
        "content_type": "thoughts",
        "thoughts": [{"summary": "Planning", "content": "I should run code.", "finished": True}],
    }
    conv.add("th", "u2", msg("assistant", content=thoughts, model="o3"))
    recap = {"content_type": "reasoning_recap", "content": "Thought for 3s"}
    conv.add("rc", "th", msg("assistant", content=recap, model="o3"))
    code = {"content_type": "code", "language": "python", "text": "print(6 * 7)\ns = '```'"}
    conv.add("call", "rc", msg("assistant", content=code, recipient="python", model="o3"))
    out = {"content_type": "execution_output", "text": "42"}
    image = {"message_type": "image", "image_url": "file-service://file-plot"}
    conv.add(
        "out",
        "call",
        msg("tool", content=out, name="python", meta={"aggregate_result": {"messages": [image]}}),
    )
    refs = {
        "content_references": [
            {
                "matched_text": "\ue200cite\ue202turn0search3\ue201",
                "type": "grouped_webpages",
                "items": [{"title": "Rome history", "url": "https://example.org/rome"}],
            },
            {"matched_text": " ", "type": "sources_footnote", "items": []},
        ]
    }
    conv.add("a2", "out", msg("assistant", NEW_TEXT, meta=refs, model="o3"))
    weird = {"content_type": "mystery_widget", "text": "widget body"}
    conv.add("w", "a2", msg("assistant", content=weird, model="o3"))
    multimodal = {
        "content_type": "multimodal_text",
        "parts": [
            {"content_type": "image_asset_pointer", "asset_pointer": "file-service://file-abc"},
            "What is in this picture?",
        ],
    }
    conv.add("u3", "w", msg("user", content=multimodal))
    conv.add("a3", "u3", msg("assistant", "FINAL ANSWER with `code`", model="o3"))
    # an edit of u2 makes a third branch
    conv.add("u2b", "a1b", msg("user", "EDITED QUESTION"))
    conv.add("a2b", "u2b", msg("assistant", "EDITED ANSWER", model="gpt-4o"))
    return conv.build("a3")
