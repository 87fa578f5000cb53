"""Small hand-made conversations in the export shape, for tests that need exact ids."""

from __future__ import annotations

from typing import Any


def two_turns(
    cid: str,
    *,
    title: str,
    question: str,
    answer: str,
    create_time: float,
    update_time: float,
) -> dict[str, Any]:
    """root -> user node ``u`` -> assistant node ``a`` (the current node)."""

    def node(node_id: str, parent: str, role: str, text: str, kids: list[str]) -> dict[str, Any]:
        message = {
            "id": node_id,
            "author": {"role": role},
            "content": {"content_type": "text", "parts": [text]},
        }
        return {"id": node_id, "parent": parent, "children": kids, "message": message}

    return {
        "id": cid,
        "title": title,
        "create_time": create_time,
        "update_time": update_time,
        "current_node": "a",
        "mapping": {
            "root": {"id": "root", "message": None, "parent": None, "children": ["u"]},
            "u": node("u", "root", "user", question, ["a"]),
            "a": node("a", "u", "assistant", answer, []),
        },
    }
