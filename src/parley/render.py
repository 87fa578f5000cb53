"""The one sanitizing renderer: every piece of user content that becomes HTML goes through here.

Contract:

* :func:`render_markdown` parses CommonMark (+ tables, strikethrough, footnotes, ``$``/``$$``
  and ``\\(``/``\\[`` math) with raw HTML *disabled*, highlights fenced code with Pygments
  (class-based spans only), typesets math server-side as MathML (latex2mathml) inside
  ``<span class="math inline">`` / ``<div class="math display">`` and returns the output of
  :func:`sanitize_html` with that MathML spliced in afterwards. The MathML never goes through
  nh3 (which drops ``<math>``): :func:`_mathml` rebuilds the converter's element tree from its
  own strict allowlist (presentation elements, harmless attributes, all text escaped) and keeps
  the TeX as an escaped ``<annotation encoding="application/x-tex">``. TeX that is too long or
  fails to convert stays escaped TeX (``\\(...\\)`` / ``\\[...\\]``) as before.
* :func:`sanitize_html` is nh3 with an explicit allowlist: no scripts, styles, event handlers,
  ``style`` attributes, svg/math/iframe/object/form/input; links and images only with
  http/https/mailto (or relative) URLs; every link gets ``rel="nofollow noopener noreferrer"``.
* :func:`render_text` is for plain user text: escaped, line breaks kept as ``<br>``, no links.
* :func:`safe_url` / :func:`safe_avatar` vet single URLs for templates (``None`` = reject).
"""

from __future__ import annotations

import html
import re
import secrets
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit
from xml.etree.ElementTree import Element

import nh3
from latex2mathml.converter import convert_to_element
from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml
from markdown_it.rules_block import StateBlock
from markdown_it.rules_inline import StateInline
from markdown_it.token import Token
from mdit_py_plugins.dollarmath import dollarmath_plugin
from mdit_py_plugins.footnote import footnote_plugin
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexer import Lexer
from pygments.lexers import get_lexer_by_name
from pygments.util import ClassNotFound

__all__ = ["render_markdown", "render_text", "safe_avatar", "safe_url", "sanitize_html"]

ALLOWED_TAGS = frozenset(
    {
        *("p", "br", "hr", "strong", "b", "em", "i", "del", "s", "code", "pre", "span", "div"),
        *("blockquote", "ul", "ol", "li", "h1", "h2", "h3", "h4", "h5", "h6", "a", "img"),
        *("table", "thead", "tbody", "tr", "th", "td", "details", "summary", "sup", "sub"),
        *("section", "kbd"),
    }
)
_CLASSED = ("span", "code", "div", "pre", "sup", "section", "ol", "li", "hr", "a", "th", "td")
ALLOWED_ATTRIBUTES: dict[str, set[str]] = {tag: {"class"} for tag in _CLASSED}
ALLOWED_ATTRIBUTES["a"] |= {"href", "title", "id"}
ALLOWED_ATTRIBUTES["img"] = {"src", "alt", "title", "width", "height"}
ALLOWED_ATTRIBUTES["li"] |= {"id"}
ALLOWED_ATTRIBUTES["ol"] |= {"start"}
URL_SCHEMES = frozenset({"http", "https", "mailto"})
_DROP_WITH_CONTENT = frozenset(
    {"script", "style", "svg", "math", "iframe", "object", "embed", "template", "noscript"}
    | {"textarea", "select", "title", "frame", "frameset", "noembed", "noframes", "xmp"}
)
_CLASS_VALUE = re.compile(r"[A-Za-z0-9_ +#.-]{1,200}")
_ID_VALUE = re.compile(r"fn(ref)?(-[A-Za-z0-9_]{1,64}-)?[0-9]{1,6}(:[0-9]{1,6})?")
_SIZE_VALUE = re.compile(r"[0-9]{1,5}")
MAX_AVATAR_BYTES = 100 * 1024
_DATA_AVATAR = re.compile(r"data:image/(?:png|jpeg|gif|webp);base64,[A-Za-z0-9+/]+={0,2}")


def _attribute_filter(tag: str, attr: str, value: str) -> str | None:
    if attr == "class":
        return value if _CLASS_VALUE.fullmatch(value) else None
    if attr == "id":
        return value if _ID_VALUE.fullmatch(value) else None
    if attr in ("width", "height", "start"):
        return value if _SIZE_VALUE.fullmatch(value) else None
    return value


def sanitize_html(html_text: str) -> str:
    """Reduce an HTML fragment to the allowlist (tags, attributes, URL schemes)."""
    return nh3.clean(
        html_text,
        tags=set(ALLOWED_TAGS),
        clean_content_tags=set(_DROP_WITH_CONTENT),
        attributes=ALLOWED_ATTRIBUTES,
        attribute_filter=_attribute_filter,
        url_schemes=set(URL_SCHEMES),
        link_rel="nofollow noopener noreferrer",
        strip_comments=True,
    )


def render_text(text: str) -> str:
    """Plain user text as HTML: escaped, newlines as ``<br>``, nothing linked."""
    normalized = text.replace("\r\n", "\n").replace("\r", "\n")
    return sanitize_html(html.escape(normalized, quote=True).replace("\n", "<br>\n"))


# --- Markdown ---------------------------------------------------------------------------

_FORMATTER = HtmlFormatter(nowrap=True)
PYGMENTS_CSS: str = HtmlFormatter().get_style_defs(".highlight")


@lru_cache(maxsize=256)
def _lexer(lang: str) -> Lexer | None:
    try:
        return get_lexer_by_name(lang, stripnl=False)
    except (ClassNotFound, ValueError):
        return None


def _highlight(code: str, lang: str, _attrs: str) -> str:
    lexer = _lexer(lang[:64]) if lang else None
    if lexer is None:
        return ""  # markdown-it escapes it as plain text
    spans = highlight(code, lexer, _FORMATTER)
    return f'<pre class="highlight"><code class="language-{escapeHtml(lang)}">{spans}</code></pre>'


# --- Math: TeX -> MathML, rebuilt from a strict allowlist ------------------------------------

MAX_MATH_CHARS = 5_000
MAX_MATH_DEPTH = 100
MAX_MATH_NODES = 20_000
MATHML_NS = "http://www.w3.org/1998/Math/MathML"
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
_MATH_ATTR_VALUE = re.compile(r"[^\x00-\x1f\x7f]{0,64}")
_MATH_MARK = "parleymath"


class _MathTooBig(Exception):
    pass


def _math_attrs(node: Element) -> str:
    out = []
    for name, raw in node.attrib.items():
        if name not in MATHML_ATTRIBUTES:
            continue  # href, style, class, mathcolor, on*, xlink:*, namespaced names, ...
        value = html.unescape(raw)
        if name == "display" and value not in ("block", "inline"):
            continue
        if _MATH_ATTR_VALUE.fullmatch(value):
            out.append(f' {name}="{html.escape(value, quote=True)}"')
    return "".join(out)


def _math_text(text: str | None) -> str:
    return html.escape(html.unescape(text), quote=False) if text else ""


def _math_walk(node: Element, out: list[str], depth: int, budget: list[int]) -> None:
    budget[0] -= 1
    if depth > MAX_MATH_DEPTH or budget[0] < 0:
        raise _MathTooBig
    tag = node.tag if isinstance(node.tag, str) else ""
    keep = tag in MATHML_TAGS and tag not in ("math", "semantics", "annotation")
    if keep:
        out.append(f"<{tag}{_math_attrs(node)}>")
    out.append(_math_text(node.text))  # an unknown element is unwrapped, its text escaped
    for child in node:
        _math_walk(child, out, depth + 1, budget)
        out.append(_math_text(child.tail))
    if keep:
        out.append(f"</{tag}>")


def _mathml(tex: str, *, block: bool) -> str | None:
    """``tex`` as sanitized MathML, or ``None`` (too long, or the converter gave up)."""
    if not tex or len(tex) > MAX_MATH_CHARS:
        return None
    display = "block" if block else "inline"
    try:
        root = convert_to_element(tex, display=display)
        out: list[str] = []
        budget = [MAX_MATH_NODES]
        for child in root:  # our own <math>/<semantics> wrapper replaces the converter's
            _math_walk(child, out, 1, budget)
            out.append(_math_text(child.tail))
    except Exception:  # any converter failure (incl. RecursionError) falls back to TeX
        return None
    annotation = html.escape(tex, quote=False)
    return (
        f'<math xmlns="{MATHML_NS}" display="{display}"><semantics><mrow>{"".join(out)}</mrow>'
        f'<annotation encoding="application/x-tex">{annotation}</annotation></semantics></math>'
    )


def _math_html(env: Any, tex: str, *, block: bool) -> str:
    """The MathML for ``tex`` as a placeholder (spliced in after nh3), else escaped TeX."""
    tex = tex.strip()
    slot = env.get("_parley_math") if isinstance(env, dict) else None
    mathml = _mathml(tex, block=block) if slot is not None else None
    if mathml is None or slot is None:
        left, right = ("\\[", "\\]") if block else ("\\(", "\\)")
        return f"{left}{escapeHtml(tex)}{right}"
    nonce, pieces = slot
    pieces.append(mathml)
    return f"{_MATH_MARK}{nonce}x{len(pieces) - 1}z"


def _math_inline(self: Any, tokens: list[Token], idx: int, options: Any, env: Any) -> str:
    body = _math_html(env, tokens[idx].content, block=False)
    return f'<span class="math inline">{body}</span>'


def _math_display_inline(self: Any, tokens: list[Token], idx: int, options: Any, env: Any) -> str:
    body = _math_html(env, tokens[idx].content, block=True)
    return f'<span class="math display">{body}</span>'


def _math_display(self: Any, tokens: list[Token], idx: int, options: Any, env: Any) -> str:
    return f'<div class="math display">{_math_html(env, tokens[idx].content, block=True)}</div>\n'


def _paren_math_inline(state: StateInline, silent: bool) -> bool:
    """``\\(...\\)`` inside a paragraph (ChatGPT's favourite inline delimiters)."""
    src, pos = state.src, state.pos
    if not src.startswith("\\(", pos):
        return False
    unclosed = state.env.get("_unclosed_paren_math")  # keeps many "\\(" without "\\)" linear
    if unclosed is not None and unclosed[0] is src and pos >= unclosed[1]:
        return False
    end = src.find("\\)", pos + 2)
    if end < 0:
        state.env["_unclosed_paren_math"] = (src, pos)
        return False
    if not src[pos + 2 : end].strip():
        return False
    if not silent:
        token = state.push("math_inline", "math", 0)
        token.content = src[pos + 2 : end]
        token.markup = "\\("
    state.pos = end + 2
    return True


MAX_MATH_LINES = 60


def _bracket_math_block(state: StateBlock, start: int, end: int, silent: bool) -> bool:
    """Display math: a line ``\\[ ... \\]``, or ``\\[`` alone up to a line ``\\]`` alone.

    (``\\[`` elsewhere stays a Markdown escape for a literal bracket.)
    """
    if state.sCount[start] - state.blkIndent >= 4:
        return False

    def line_text(line: int) -> str:
        return state.src[state.bMarks[line] + state.tShift[line] : state.eMarks[line]].rstrip()

    first = line_text(start)
    if first.startswith("\\[") and first.endswith("\\]") and len(first) > 4:
        body, last = first[2:-2], start
    elif first == "\\[":
        last, limit = start + 1, min(end, start + MAX_MATH_LINES)
        if state.src.find("\\]", state.eMarks[start], state.eMarks[limit - 1]) < 0:
            return False  # cheap bail-out keeps many unclosed "\\[" lines linear
        while last < limit and line_text(last) != "\\]":
            if not line_text(last):
                return False  # a blank line ends the attempt
            last += 1
        if last >= limit:
            return False
        body = "\n".join(line_text(line) for line in range(start + 1, last))
    else:
        return False
    if silent:
        return True
    token = state.push("math_block", "math", 0)
    token.block = True
    token.content = body
    token.markup = "\\["
    token.map = [start, last + 1]
    state.line = last + 1
    return True


def _table_align_to_class(tokens: list[Token]) -> None:
    """Tables align with ``style=text-align``; styles are not allowed, so use classes."""
    for token in tokens:
        if token.type in ("th_open", "td_open"):
            style = token.attrGet("style")
            if isinstance(style, str) and style.startswith("text-align:"):
                del token.attrs["style"]
                token.attrSet("class", "align-" + style.split(":", 1)[1].strip())


def _build() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "highlight": _highlight})
    md.enable(["table", "strikethrough"])
    dollarmath_plugin(md, allow_space=False, allow_digits=False, double_inline=True)
    footnote_plugin(md)
    md.inline.ruler.before("escape", "math_parens", _paren_math_inline)
    md.block.ruler.before(
        "paragraph",
        "math_brackets_block",
        _bracket_math_block,
        {"alt": ["paragraph", "blockquote", "list"]},
    )
    md.add_render_rule("math_inline", _math_inline)
    md.add_render_rule("math_inline_double", _math_display_inline)
    md.add_render_rule("math_block", _math_display)
    md.add_render_rule("math_block_label", _math_display)
    return md


_MD = _build()


def render_markdown(text: str, *, doc_id: str | None = None) -> str:
    """Markdown to sanitized HTML. ``doc_id`` namespaces footnote ids on a shared page."""
    env: dict[str, Any] = {}
    if doc_id:
        env["docId"] = re.sub(r"[^A-Za-z0-9_]", "_", doc_id)[:64]
    tokens = _MD.parse(text, env)
    _table_align_to_class(tokens)
    for token in tokens:
        if token.children:
            _table_align_to_class(token.children)
    nonce = secrets.token_hex(8)
    pieces: list[str] = []
    env["_parley_math"] = (nonce, pieces)
    clean = sanitize_html(_MD.renderer.render(tokens, _MD.options, env))
    if not pieces:
        return clean
    # The MathML was built from its own allowlist; it replaces only our unguessable markers.
    marker = re.compile(re.escape(_MATH_MARK + nonce) + r"x([0-9]{1,6})z")
    return marker.sub(lambda m: pieces[int(m.group(1))], clean)


# --- Single URLs ------------------------------------------------------------------------

_BAD_URL_CHARS = re.compile(r"[\x00-\x20\x7f-\x9f\\<>\"'`]")


def safe_url(url: str | None) -> str | None:
    """``url`` if it is absolute http(s) or a same-origin path (``/x``), else ``None``."""
    if not isinstance(url, str):
        return None
    url = url.strip()
    if not url or _BAD_URL_CHARS.search(url):
        return None
    if url.startswith("/"):
        return None if url.startswith("//") else url
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() in ("http", "https") and parts.hostname:
        return url
    return None


def safe_avatar(url: str | None) -> str | None:
    """Like :func:`safe_url`, plus small base64 raster ``data:image`` URLs (no SVG)."""
    if isinstance(url, str):
        stripped = url.strip()
        if stripped[:11].lower() == "data:image/":
            ok = len(stripped) <= MAX_AVATAR_BYTES and _DATA_AVATAR.fullmatch(stripped)
            return stripped if ok else None
    return safe_url(url)
