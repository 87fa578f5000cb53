"""Self-contained HTML page for one conversation in the official ChatGPT export shape.

Contract of :func:`to_html`:

* one page, no script at all, a restrictive Content-Security-Policy meta tag
  (``default-src 'none'; style-src 'unsafe-inline'; img-src https: data:``), inline CSS only;
* the page shell is a Jinja2 template with autoescape, so titles and labels are escaped;
* user (and user system) messages go through :func:`parley.render.render_text`, everything
  else through :func:`parley.render.render_markdown` (both sanitize); citations become per-message
  footnotes; reasoning (with ``include_reasoning``), tool calls and tool output sit in
  ``<details>``;
* the message selection, headings, branches and citations come from
  :mod:`parley.formats.transcript`; message bodies are
  :func:`parley.formats.markdown.message_markdown`.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import Any

from jinja2 import Environment
from markupsafe import Markup

from parley.formats.markdown import message_markdown
from parley.formats.transcript import (
    Footnotes,
    conversation_model,
    heading,
    is_code_call,
    iso_time,
    other_branches,
    shown,
)
from parley.render import PYGMENTS_CSS, render_markdown, render_text
from parley.tree import REASONING_CONTENT_TYPES, Message, Tree, content_type, message_text, role

__all__ = ["to_html"]

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src https: data:"

_CSS = """
body{font:16px/1.55 system-ui,sans-serif;max-width:52rem;margin:0 auto;padding:1rem;
color:#1f2328;background:#fff}
header{border-bottom:1px solid #d0d7de;margin-bottom:1rem}
.meta{color:#59636e;font-size:.9rem}
article{margin:0 0 1.25rem;padding:.75rem 1rem;border-radius:8px;border:1px solid #d0d7de}
article h2,article h3{font-size:.85rem;margin:0 0 .5rem;color:#59636e;text-transform:none}
.role-user{background:#f6f8fa}
.branch{border-top:3px double #d0d7de;margin-top:2rem;padding-top:1rem}
pre{overflow-x:auto;background:#f6f8fa;padding:.75rem;border-radius:6px}
code{font-family:ui-monospace,monospace;font-size:.9em}
table{border-collapse:collapse}th,td{border:1px solid #d0d7de;padding:.25rem .5rem}
.align-right{text-align:right}.align-center{text-align:center}
blockquote{margin:0;padding-left:1rem;border-left:3px solid #d0d7de;color:#59636e}
details{margin:.25rem 0}summary{cursor:pointer;color:#59636e}
img{max-width:100%}
"""

_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{{ csp }}">
<meta name="referrer" content="no-referrer">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title>
<style>{{ css }}</style>
</head>
<body>
<header>
<h1>{{ title }}</h1>
<p class="meta">{% for item in meta %}{{ item }}{% if not loop.last %} · {% endif %}{% endfor %}</p>
</header>
<main>
{% for entry in messages %}{{ entry_html(entry, "h2") }}{% endfor %}
{% for branch in branches %}
<section class="branch">
<h2>Branch {{ loop.index + 1 }} of {{ branches|length + 1 }} ({{ branch.origin }})</h2>
<p class="meta">Alternative branch, not the visible transcript.</p>
{% for entry in branch.entries %}{{ entry_html(entry, "h3") }}{% endfor %}
</section>
{% endfor %}
</main>
</body>
</html>
"""

_ENTRY = """<article class="msg role-{{ entry.role }}">
<{{ tag }}>{{ entry.heading }}</{{ tag }}>
{% if entry.summary %}<details><summary>{{ entry.summary }}</summary>
{{ entry.body }}</details>{% else %}{{ entry.body }}{% endif %}
</article>
"""


@dataclass
class _Entry:
    role: str
    heading: str
    body: Markup
    summary: str | None


@dataclass
class _Branch:
    origin: str
    entries: list[_Entry]


_ENV = Environment(autoescape=True)
_PAGE = _ENV.from_string(_TEMPLATE)
_ENTRY_TEMPLATE = _ENV.from_string(_ENTRY)


def _entry_html(entry: _Entry, tag: str) -> Markup:
    return Markup(_ENTRY_TEMPLATE.render(entry=entry, tag=tag))


def _entry(message: Message, doc_id: str) -> _Entry:
    who = role(message) or "unknown"
    kind = content_type(message)
    if who in ("user", "system"):  # user-authored: plain text, never Markdown
        body = render_text(message_text(message))
    elif kind in REASONING_CONTENT_TYPES:
        body = render_markdown(message_text(message), doc_id=doc_id)
    else:
        footnotes = Footnotes()
        text = message_markdown(message, footnotes)
        if footnotes.items:
            text += "\n\n" + footnotes.definitions()
        body = render_markdown(text, doc_id=doc_id)
    summary = None
    if kind in REASONING_CONTENT_TYPES:
        summary = "Reasoning"
    elif who == "tool":
        summary = f"{heading(message)} output"
    elif is_code_call(message):
        summary = f"Code sent to {message.get('recipient')}"
    role_class = re.sub(r"[^a-z]", "", who.lower()) or "unknown"
    if kind in REASONING_CONTENT_TYPES:
        role_class = "reasoning"
    return _Entry(role_class, heading(message), Markup(body), summary)


def to_html(
    conversation: dict[str, Any], *, all_branches: bool = False, include_reasoning: bool = False
) -> str:
    """One conversation as a standalone, script-free HTML page."""
    tree = Tree.build(conversation.get("mapping"))
    visible = tree.visible_path(conversation.get("current_node"))
    messages = {n: tree.nodes[n].get("message") for n in tree.nodes}
    counter = itertools.count(1)

    def entries(node_ids: list[str]) -> list[_Entry]:
        return [
            _entry(message, f"m{next(counter)}")
            for n in node_ids
            if shown(message := messages[n], include_reasoning=include_reasoning)
        ]

    branches: list[_Branch] = []
    if all_branches:
        for fork, node_ids in other_branches(tree, visible):
            found = entries(node_ids)
            if found:
                origin = f"from message {fork}" if fork else "separate thread"
                branches.append(_Branch(origin, found))
    title = " ".join(str(conversation.get("title") or "").split()) or "Untitled"
    meta = [
        value
        for value in (
            iso_time(conversation.get("create_time")),
            conversation_model(conversation, (messages[n] for n in visible)),
        )
        if value
    ]
    return _PAGE.render(
        csp=CSP,
        css=Markup(_CSS + PYGMENTS_CSS),
        title=title,
        meta=meta,
        messages=entries(visible),
        branches=branches,
        entry_html=_entry_html,
    )
