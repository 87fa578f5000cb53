"""Edge cases for tree shape and metadata: branches, broken trees, odd fields, projects."""

from __future__ import annotations

import random

from parley.synth import text as tx
from parley.synth.builder import compose
from parley.synth.content import Conversation, b62, text_content, uuid
from parley.synth.edges_kit import EdgeBuilder, begin, chat, registrar
from parley.synth.pools import pools

CASES: dict[str, EdgeBuilder] = {}
_edge = registrar(CASES)


@_edge("branches")
def _e_branches(rng: random.Random, t: float) -> Conversation:
    b, cid = begin(rng, t, "branches")
    answer = chat(b, "Suggest a name for my bakery.", "How about **Rise & Shine**?")
    chat(b, "Something in French?", "« Le Petit Four »")  # the original question
    edited = b.add("user", text_content("Something in Italian?"), parent=answer, dt=60)  # the edit
    b.add("assistant", text_content("« Dolce Forno »"), end_turn=True)  # the first answer
    b.add(
        "assistant", text_content("« Il Fornaio Felice »"), parent=edited, end_turn=True, dt=30
    )  # regenerated
    chat(b, "Perfect, thanks!", "Buona fortuna! 🥖")
    return b.finish(cid, "Bakery names")


@_edge("current-null")
def _e_current_null(rng: random.Random, t: float) -> Conversation:
    b, cid = begin(rng, t, "current-null")
    question = b.add("user", text_content("Give me a haiku about rain."))
    b.add("assistant", text_content("Soft rain on tin roofs"), end_turn=True)
    b.add(
        "assistant",
        text_content("Grey sky, patient drops —\nthe garden drinks slowly\nwhile I wait inside."),
        parent=question,
        end_turn=True,
        dt=40,
    )
    return b.finish(cid, "Rain haiku", current=None)


@_edge("current-missing")
def _e_current_missing(rng: random.Random, t: float) -> Conversation:
    b, cid = begin(rng, t, "current-missing")
    chat(b, "Translate 'good morning' to German.", "Guten Morgen!")
    return b.finish(cid, "German greeting", current=f"deleted-{uuid(rng)}")


@_edge("no-id")
def _e_no_id(rng: random.Random, t: float) -> Conversation:
    b, cid = begin(rng, t, "no-id")
    chat(b, "What's 2 + 2?", "4")
    conv = b.finish(cid, "Arithmetic")
    del conv["id"]
    return conv


@_edge("null-title")
def _e_null_title(rng: random.Random, t: float) -> Conversation:
    b, cid = begin(rng, t, "null-title")
    chat(b, "hi", "Hello! How can I help you today?")
    return b.finish(cid, None)


@_edge("dict-parts")
def _e_dict_parts(rng: random.Random, t: float) -> Conversation:
    b, cid = begin(rng, t, "dict-parts")
    b.add("user", text_content("Summarise the attached notes."))
    parts = [
        "Here is the summary:",
        {"content_type": "text", "text": "a dict part inside text content"},
        {"unexpected": [1, 2, 3]},
    ]
    b.add("assistant", {"content_type": "text", "parts": parts}, end_turn=True)
    return b.finish(cid, "Notes summary")


@_edge("missing-fields")
def _e_missing_fields(rng: random.Random, t: float) -> Conversation:
    b, cid = begin(rng, t, "missing-fields")
    chat(
        b,
        "Name three primary colours.",
        "Red, yellow and blue.",
        "And secondary?",
        "Green, orange, purple.",
    )
    for node in b.mapping.values():
        node.pop("children", None)
        if node["message"] is not None:
            node["message"].pop("status")
            node["message"].pop("weight")
    return b.finish(cid, "Colours")


@_edge("hidden")
def _e_hidden(rng: random.Random, t: float) -> Conversation:
    b, cid = begin(rng, t, "hidden")
    b.add("system", text_content("You are ChatGPT, a large language model."), weight=0.0)
    b.add(
        "system",
        text_content("Talk like a pirate in every answer."),
        meta={"is_user_system_message": True},
    )
    b.add(
        "user",
        text_content("[client context: timezone=Europe/Berlin]"),
        meta={"is_visually_hidden_from_conversation": True},
    )
    b.add("user", text_content("Remember that I like sailing."))
    b.add("assistant", text_content("User likes sailing."), recipient="bio", end_turn=False)
    b.add("tool", text_content("Model set context updated."), name="bio")
    b.add("assistant", text_content("Arr, I'll remember ye love sailin'! ⛵"), end_turn=True)
    return b.finish(cid, "Pirate memory")


@_edge("empty-placeholder")
def _e_empty(rng: random.Random, t: float) -> Conversation:
    b, cid = begin(rng, t, "empty-placeholder")
    b.add("user", text_content("Tell me a fun fact."))
    b.add("assistant", {"content_type": "text", "parts": [""]})
    b.add("assistant", text_content("Octopuses have three hearts. 🐙"), end_turn=True)
    return b.finish(cid, "Fun fact")


@_edge("parent-cycle")
def _e_cycle(rng: random.Random, t: float) -> Conversation:
    b, cid = begin(rng, t, "parent-cycle")
    last = chat(b, "Is this conversation broken?", "Only a little.")
    x = b.add("user", text_content("cycle A"), parent=b.root)
    y = b.add("assistant", text_content("cycle B"), parent=x, end_turn=True)
    b.root["children"].remove(x["id"])
    x["parent"], y["children"] = y["id"], [x["id"]]
    b.last = last
    return b.finish(cid, "Cycle")


@_edge("dangling-child")
def _e_dangling(rng: random.Random, t: float) -> Conversation:
    b, cid = begin(rng, t, "dangling-child")
    last = chat(b, "Where did the rest go?", "Some nodes were never exported.")
    last["children"].append(f"missing-{uuid(rng)}")
    return b.finish(cid, "Dangling child")


@_edge("orphan")
def _e_orphan(rng: random.Random, t: float) -> Conversation:
    b, cid = begin(rng, t, "orphan")
    last = chat(b, "First question", "First answer")
    orphan = b.add("user", text_content("I lost my parent node."), parent=b.root)
    b.root["children"].remove(orphan["id"])
    orphan["parent"] = f"ghost-{uuid(rng)}"
    b.last = last
    return b.finish(cid, "Orphan")


@_edge("hostile-html")
def _e_hostile(rng: random.Random, t: float) -> Conversation:
    b, cid = begin(rng, t, "hostile-html")
    b.add("user", text_content("\n".join(tx.HOSTILE)))
    answer = "\n\n".join(
        [*tx.HOSTILE, "```html\n<script>alert(1)</script>\n```", "[x](javascript:alert(1))"]
    )
    b.add("assistant", text_content(answer), end_turn=True)
    return b.finish(cid, '<script>alert(1)</script><img src=x onerror=alert(1)> & "quotes"')


@_edge("status")
def _e_status(rng: random.Random, t: float) -> Conversation:
    b, cid = begin(rng, t, "status")
    b.add("user", text_content("Write a long story about a dragon."))
    b.add(
        "assistant",
        text_content("Once upon a time a dragon"),
        status="finished_partial_completion",
        end_turn=False,
        meta={"finish_details": {"type": "interrupted"}},
    )
    question = b.add("user", text_content("Continue"))
    b.add("assistant", text_content("Something went wrong."), status="error", end_turn=False)
    b.add(
        "assistant",
        text_content("…who loved libraries"),
        parent=question,
        status="in_progress",
        meta={"finish_details": None, "is_complete": False},
        dt=20,
    )
    return b.finish(cid, "Dragon story")


@_edge("single-message")
def _e_single(rng: random.Random, t: float) -> Conversation:
    b, cid = begin(rng, t, "single-message")
    node = b.add("user", text_content("Just one message, no answer, no root."))
    node["parent"] = None
    b.mapping = {node["id"]: node}
    return b.finish(cid, "Single message")


@_edge("unicode")
def _e_unicode(rng: random.Random, t: float) -> Conversation:
    b, cid = begin(rng, t, "unicode")
    chat(b, *tx.UNICODE[:2], tx.UNICODE[2], "\n".join(tx.UNICODE))
    return b.finish(cid, "Ünïcödé 🚀 مرحبا שלום 日本語 👩‍👩‍👧‍👦")


@_edge("null-create-time")
def _e_null_time(rng: random.Random, t: float) -> Conversation:
    b, cid = begin(rng, t, "null-create-time")
    b.add("user", text_content("When was this sent?"), null_time=True)
    b.add("assistant", text_content("Nobody knows."), end_turn=True, null_time=True)
    chat(b, "And this one?", "This one has a time.")
    return b.finish(cid, "Timeless")


@_edge("legacy-root")
def _e_legacy_root(rng: random.Random, t: float) -> Conversation:
    b, cid = begin(rng, t, "legacy-root", slug="text-davinci-002-render-sha", new_era=False)
    chat(
        b, "Explain recursion.", "To understand recursion, you must first understand recursion. 😄"
    )
    return b.finish(cid, "Recursion")


@_edge("project")
def _e_project(rng: random.Random, t: float) -> Conversation:
    b, cid = begin(rng, t, "project")
    chat(b, "Draft the intro of the thesis.", "Here's a first draft of the introduction…")
    project = f"g-p-{rng.getrandbits(128):032x}"
    return b.finish(
        cid,
        "Thesis intro",
        conversation_template_id=project,
        gizmo_id=project,
        gizmo_type="snorlax",
    )


@_edge("custom-gpt")
def _e_custom_gpt(rng: random.Random, t: float) -> Conversation:
    b, cid = begin(rng, t, "custom-gpt")
    gizmo = f"g-{b62(rng, 9)}"
    b.add("user", text_content("Plan a 3-day trip to Lisbon."))
    b.add(
        "assistant",
        text_content("Day 1: Alfama and Belém…"),
        end_turn=True,
        meta={"gizmo_id": gizmo},
    )
    return b.finish(
        cid, "Lisbon trip", conversation_template_id=gizmo, gizmo_id=gizmo, gizmo_type="gpt"
    )


@_edge("future-fields")
def _e_future(rng: random.Random, t: float) -> Conversation:
    b, cid = begin(rng, t, "future-fields")
    last = chat(b, "Anything new?", "Always.")
    last["x_node_flag"] = True
    message = last["message"]
    message["x_signal"] = {"v": 1, "tags": ["beta"]}
    message["metadata"]["x_meta"] = [1, "two", {"three": 3.0}]
    message["author"]["metadata"]["x_author"] = "experimental"
    return b.finish(
        cid,
        "Future",
        x_future_field={"nested": {"deep": [1, 2, 3]}, "flag": True},
        x_new_list=["a", "b"],
        memory_scope="project_enabled",
        async_status=2,
    )


@_edge("huge-message")
def _e_huge(rng: random.Random, t: float) -> Conversation:
    b, cid = begin(rng, t, "huge-message")
    b.add("user", text_content("Paste the whole log and analyse it."))
    b.add(
        "assistant",
        text_content(compose(rng, pools().blocks, "Here is the full analysis.", 2_000_000)),
        end_turn=True,
    )
    return b.finish(cid, "Huge log analysis")
