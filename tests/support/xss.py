"""An XSS corpus, a library full of it, and a check that a page's HTML is inert.

Every payload tries to set ``window.__xss`` (or open a dialog), so a real browser can
prove nothing ran; :func:`assert_inert` proves it on the HTML itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from parley import social
from parley.store import conversations
from parley.store import shares as share_store
from parley.store.db import transaction
from parley.store.rows import explode

PAYLOADS: tuple[str, ...] = (
    "<script>window.__xss=1;alert(1)</script>",
    '<img src=x onerror="window.__xss=2;alert(2)">',
    '<svg onload="window.__xss=3"><script>window.__xss=3</script></svg>',
    "[click me](javascript:window.__xss=4)",
    "[click me](JaVaScRiPt:window.__xss=5)",
    '<a href="javascript:window.__xss=6">anchor</a>',
    '<iframe src="javascript:window.__xss=7"></iframe>',
    '<div style="background:url(javascript:window.__xss=8)">styled</div>',
    "<<script>script>window.__xss=9<</script>/script>",
    "![pic](javascript:window.__xss=10)",
    '<math><mi xlink:href="javascript:window.__xss=11">m</mi></math>',
    '"><script>window.__xss=12</script>',
    '<details open ontoggle="window.__xss=13">toggle</details>',
    "[data](data:text/html;base64,PHNjcmlwdD53aW5kb3cuX194c3M9MTQ8L3NjcmlwdD4=)",
    '<form action="javascript:window.__xss=15"><button>go</button></form>',
    "</textarea><script>window.__xss=16</script>",
    '<a href="&#106;avascript:window.__xss=17">entity</a>',
    '<!--<img src="--><img src=x onerror=window.__xss=18//">',
    '<noscript><p title="</noscript><img src=x onerror=window.__xss=19>">',
    '<base href="javascript:/">',
    '<meta http-equiv="refresh" content="0;url=javascript:window.__xss=20">',
    '<object data="javascript:window.__xss=21"></object>',
    "[ref][1]\n\n[1]: javascript:window.__xss=22",
    "<http://x.example/?a=<script>window.__xss=23</script>>",
    "```html\n<script>window.__xss=24</script>\n```",
    "$<img src=x onerror=window.__xss=25>$ and \\(<script>window.__xss=26</script>\\)",
    "| a | <img src=x onerror=window.__xss=27> |\n|---|---|\n| <script>1</script> | b |",
    '<p onmouseover="window.__xss=28" style="position:fixed;inset:0">cover</p>',
    "<template><script>window.__xss=29</script></template><style>*{}</style>",
    '<img src="data:image/svg+xml,<svg onload=window.__xss=30>">',
)
AVATARS: tuple[str, ...] = (
    "javascript:window.__xss=40",
    'https://x.example/a.png" onerror="window.__xss=41',
    "data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9ImFsZXJ0KDEpIi8+",
    "data:text/html,<script>window.__xss=42</script>",
)
HOSTILE_TITLE = '<script>window.__xss=50</script>"><img src=x onerror=alert(50)>'
BODY = "\n\n".join(PAYLOADS)


@dataclass(frozen=True)
class Hostile:
    posted: str  # a public ShareGPT post full of payloads
    shared: str  # a branched library conversation full of payloads, shared publicly
    comment_node: str  # a node of ``shared`` that carries hostile comments


def _message(node: str, role: str, content: dict[str, Any], at: float, **extra: Any) -> Any:
    return {
        "id": node,
        "author": {"role": role, "name": extra.pop("name", None), "metadata": {}},
        "create_time": at,
        "content": content,
        "recipient": extra.pop("recipient", "all"),
        "metadata": extra,
    }


def hostile_conversation(cid: str) -> dict[str, Any]:
    """A branched conversation with payloads in every kind of message and in its title."""
    text = {"content_type": "text", "parts": [BODY]}
    rows = [
        ("u1", None, _message("u1", "user", text, 1.0)),
        ("a1", "u1", _message("a1", "assistant", text, 2.0, model_slug="<script>m</script>")),
        (
            "t1",
            "a1",
            _message(
                "t1",
                "assistant",
                {
                    "content_type": "thoughts",
                    "thoughts": [{"summary": "<script>window.__xss=60</script>", "content": BODY}],
                },
                3.0,
            ),
        ),
        (
            "c1",
            "t1",
            _message(
                "c1",
                "assistant",
                {"content_type": "code", "language": "python", "text": BODY},
                4.0,
                recipient="python",
            ),
        ),
        (
            "o1",
            "c1",
            _message(
                "o1",
                "tool",
                {"content_type": "execution_output", "text": BODY},
                5.0,
                name="<img src=x onerror=alert(61)>",
            ),
        ),
        ("u2a", "o1", _message("u2a", "user", text, 6.0)),
        (
            "u2b",
            "o1",
            _message(
                "u2b",
                "user",
                {"content_type": "text", "parts": ["second branch " + PAYLOADS[1]]},
                7.0,
            ),
        ),
        ("a2b", "u2b", _message("a2b", "assistant", text, 8.0)),
    ]
    mapping: dict[str, Any] = {"root": {"id": "root", "parent": None, "message": None}}
    for node, parent, message in rows:
        mapping[node] = {"id": node, "parent": parent or "root", "message": message}
    return {
        "id": cid,
        "title": HOSTILE_TITLE,
        "create_time": 1.0,
        "update_time": 9.0,
        "current_node": "a2b",
        "mapping": mapping,
    }


def make_hostile(factory: sessionmaker[Session], *, owner_id: str, commenter_id: str) -> Hostile:
    """Store the hostile world: a post, a shared conversation, comments, bad avatars."""
    with transaction(factory) as session:
        conversations.save(session, owner_id=owner_id, item=explode(hostile_conversation("x1")))
        shared = social.share_conversation(
            session, owner_id=owner_id, conversation_id="x1", visibility="public"
        )
        share_store.set_fields(session, share_id=shared.id, values={"avatar": AVATARS[0]})
        items = [
            {"from": "human" if i % 2 == 0 else "gpt", "value": p} for i, p in enumerate(PAYLOADS)
        ]
        items.append({"from": "gpt", "value": "<div class=markdown>" + BODY + "</div>"})
        posted, _ = social.post_sharegpt(
            session,
            owner_id=owner_id,
            items=items,
            avatar_url=AVATARS[2],
            title=HOSTILE_TITLE + " pythons",
            model=None,
            visibility="public",
        )
        share_store.set_fields(session, share_id=posted.id, values={"avatar": AVATARS[1]})
        for payload in PAYLOADS[:8]:
            social.add_comment(
                session, share_id=shared.id, author_id=commenter_id, node_id="a2b", body=payload
            )
    return Hostile(posted=posted.id, shared=shared.id, comment_node="a2b")


# --- the check ---------------------------------------------------------------------------

URL_ATTRIBUTES = {
    "href",
    "src",
    "action",
    "formaction",
    "data",
    "xlink:href",
    "poster",
    "background",
    "srcset",
}
FORBIDDEN_TAGS = {
    "iframe",
    "object",
    "embed",
    "svg",
    "maction",
    "mglyph",
    "malignmark",
    "annotation-xml",
    "base",
    "frame",
    "frameset",
    "template",
    "style",
    "applet",
    "noscript",
}
# The renderer's typeset MathML (parley.render): these elements only, with harmless attributes.
MATHML_TAGS = frozenset(
    {
        *("math", "semantics", "annotation", "mrow", "mi", "mn", "mo", "ms", "mtext"),
        *("mspace", "msup", "msub", "msubsup", "mfrac", "msqrt", "mroot", "mover", "munder"),
        *("munderover", "mtable", "mtr", "mtd", "mstyle", "mpadded", "mphantom", "menclose"),
        "mfenced",
    }
)
MATHML_ATTRIBUTES = frozenset(
    {
        *("display", "mathvariant", "stretchy", "fence", "separator", "lspace", "rspace"),
        *("accent", "accentunder", "columnalign", "rowspacing", "columnspacing"),
        *("linethickness", "displaystyle", "scriptlevel", "notation", "open", "close"),
        "separators",
    }
)
_SAFE_DATA_IMAGE = re.compile(r"data:image/(png|jpeg|gif|webp);base64,[A-Za-z0-9+/]+={0,2}")


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.script_text: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))
        self._in_script = tag == "script"

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.script_text.append(data)


def problems(html: str) -> list[str]:
    """Everything in ``html`` that could run script or restyle the page; empty when inert."""
    parser = _Tags()
    parser.feed(html)
    parser.close()
    found = [f"inline script: {text[:80]!r}" for text in parser.script_text]
    for tag, attrs in parser.tags:
        names = {name.lower() for name, _ in attrs}
        if tag in FORBIDDEN_TAGS:
            found.append(f"<{tag}>")
        if tag == "script" and not (dict(attrs).get("src") or "").startswith("/static/"):
            found.append(f"<script {attrs}>")
        if tag == "meta" and "http-equiv" in names:
            found.append(f"<meta {attrs}>")
        if tag == "form" and not (dict(attrs).get("action") or "/").startswith("/"):
            found.append(f"<form {attrs}>")
        if tag in MATHML_TAGS:
            extra = {"xmlns"} if tag == "math" else {"encoding"} if tag == "annotation" else set()
            found += [f"<{tag} {n}=...> in MathML" for n in names - MATHML_ATTRIBUTES - extra]
        for name, value in attrs:
            lowered = name.lower()
            if lowered.startswith("on"):
                found.append(f"<{tag} {name}=...> event handler")
            if lowered == "style":
                found.append(f"<{tag} style=...>")
            if lowered in URL_ATTRIBUTES and value:
                compact = re.sub(r"[\s\x00-\x1f]", "", value).lower()
                if compact.startswith(("javascript:", "vbscript:")):
                    found.append(f"<{tag} {name}={value!r}>")
                if compact.startswith("data:") and not (
                    tag == "img" and lowered == "src" and _SAFE_DATA_IMAGE.fullmatch(value)
                ):
                    found.append(f"<{tag} {name}={value[:60]!r}>")
    return found


def assert_inert(html: str, where: str = "") -> None:
    found = problems(html)
    assert not found, f"{where}: " + "; ".join(found[:10])
