"""Rendered chat HTML (what the ShareGPT extension posts) -> Markdown, as a pure function.

Contract of :func:`html_to_markdown`:

* the output is Markdown *text*: it is stored like any message and rendered later by
  :func:`parley.render.render_markdown` (raw HTML disabled, sanitized), so nothing in the
  input can become markup: tags are never copied, only their text and structure;
* kept: paragraphs, headings, emphasis, inline code, fenced code blocks (language from a
  ``language-*`` class; the code block's header and "Copy code" button are dropped),
  lists (nested), block quotes, links and images with http(s) URLs, tables, rules, and
  KaTeX math as ``$...$`` / ``$$...$$`` from its TeX annotation;
* dropped with their content: script, style, svg, button and other non-content elements.

:func:`looks_like_html` tells posted HTML from posted text.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

from parley.render import safe_url

_SKIP = frozenset(
    {"script", "style", "svg", "math", "button", "template", "noscript", "iframe", "object"}
    | {"embed", "head", "title", "textarea", "select", "canvas", "video", "audio", "form"}
)
_VOID = frozenset({"br", "hr", "img", "input", "meta", "link", "area", "base", "col", "wbr"})
_BLOCK = frozenset(
    {"p", "div", "section", "article", "header", "footer", "details", "summary", "figure"}
    | {"h1", "h2", "h3", "h4", "h5", "h6", "table", "hr", "pre", "ul", "ol", "li", "blockquote"}
)
_INLINE_MARK = {"strong": "**", "b": "**", "em": "*", "i": "*", "del": "~~", "s": "~~"}
_HTML_START = re.compile(r"\s*<(?:[a-zA-Z][\w-]*)(?:\s[^>]*)?/?>")
_ESCAPE = re.compile(r"([\\`*_\[\]])")
_LANG = re.compile(r"language-([\w+#.-]{1,40})")


def looks_like_html(value: str) -> bool:
    """True for a fragment that starts with a tag and closes one (``<div ...>...</div>``)."""
    return bool(_HTML_START.match(value)) and ("</" in value or "/>" in value)


class _Markdown(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[tuple[str, bool]] = []  # (Markdown, inside a list)
        self.inline: list[str] = []
        self.containers: list[list[object]] = []  # ["ul"|"ol"|"blockquote", counter]
        self.marker: str | None = None
        self.heading = 0
        self.skip = 0
        self.tex: list[str] | None = None
        self.display_math = 0
        self.pre = 0
        self.pre_all: list[str] = []
        self.pre_code: list[str] | None = None
        self.pre_lang = ""
        self.in_code = 0
        self.links: list[str | None] = []
        self.rows: list[list[str]] | None = None
        self.cells: list[str] | None = None

    # -- structure ---------------------------------------------------------------------

    def _prefix(self, first: bool) -> str:
        prefix, lists = "", 0
        for kind, _ in self.containers:
            if kind == "blockquote":
                prefix += "> "
            else:
                lists += 1
        indent = "   " * max(0, lists - 1)
        if first and self.marker is not None:
            return prefix + indent + self.marker
        return prefix + indent + ("   " if lists else "")

    def _emit(self, text: str) -> None:
        lines = text.split("\n")
        out = [self._prefix(i == 0) + line for i, line in enumerate(lines)]
        self.marker = None
        in_list = any(kind != "blockquote" for kind, _ in self.containers)
        self.blocks.append(("\n".join(out), in_list))

    def flush(self) -> None:
        text = re.sub(r"[ \t]+", " ", "".join(self.inline)).strip()
        self.inline = []
        if not text:
            return
        if self.heading:
            text = "#" * self.heading + " " + text.replace("\n", " ")
        self._emit(text)

    # -- parser callbacks --------------------------------------------------------------

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = {key: value or "" for key, value in attrs}
        classes = attr.get("class", "")
        if self.skip:
            if tag == "annotation" and "tex" in attr.get("encoding", ""):
                self.tex = []
            if tag not in _VOID:
                self.skip += 1
            return
        if tag in _SKIP or "katex-html" in classes or "katex-mathml" in classes:
            self.skip = 0 if tag in _VOID else 1
            return
        if "katex-display" in classes:
            self.display_math += 1
        if self.pre:
            if tag == "code":
                self.pre_code = self.pre_code if self.pre_code is not None else []
                self.in_code += 1
                found = _LANG.search(classes)
                self.pre_lang = self.pre_lang or (found.group(1) if found else "")
            elif tag == "br":
                self._pre_text("\n")
            return
        if self.cells is not None and tag in ("td", "th"):
            self.inline = []
            return
        if tag in _BLOCK:
            self.flush()
        if tag in ("ul", "ol", "blockquote"):
            start = attr.get("start", "1")
            self.containers.append([tag, int(start) if start.isdigit() else 1])
        elif tag == "li":
            kind = next((c for c in reversed(self.containers) if c[0] != "blockquote"), None)
            if kind is not None and kind[0] == "ol":
                self.marker = f"{kind[1]}. "
                kind[1] = int(str(kind[1])) + 1
            else:
                self.marker = "- "
        elif tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
            self.heading = int(tag[1])
        elif tag == "pre":
            self.pre, self.pre_all, self.pre_code, self.pre_lang = 1, [], None, ""
            found = _LANG.search(classes)
            self.pre_lang = found.group(1) if found else ""
        elif tag == "hr":
            self.blocks.append(("---", False))
        elif tag == "br":
            self.inline.append("\n")
        elif tag == "table":
            self.rows = []
        elif tag == "tr" and self.rows is not None:
            self.cells = []
        elif tag in _INLINE_MARK:
            self.inline.append(_INLINE_MARK[tag])
        elif tag == "code":
            self.inline.append("`")
            self.in_code += 1
        elif tag == "a":
            href = safe_url(attr.get("href"))
            self.links.append(href)
            if href:
                self.inline.append("[")
        elif tag == "img":
            src = safe_url(attr.get("src"))
            if src:
                alt = _ESCAPE.sub(r"\\\1", attr.get("alt", ""))
                self.inline.append(f"![{alt}]({src})")

    def handle_endtag(self, tag: str) -> None:
        if self.skip:
            if tag == "annotation" and self.tex is not None:
                tex = "".join(self.tex).strip()
                self.tex = None
                if tex:
                    fence = "$$" if self.display_math else "$"
                    self.inline.append(f"{fence}{tex}{fence}")
            self.skip -= 1
            return
        if self.pre:
            if tag == "code" and self.in_code:
                self.in_code -= 1
            elif tag == "pre":
                self._end_pre()
            return
        if self.cells is not None and tag in ("td", "th"):
            cell = re.sub(r"\s+", " ", "".join(self.inline)).strip().replace("|", "\\|")
            self.cells.append(cell)
            self.inline = []
            return
        if tag == "tr" and self.rows is not None and self.cells is not None:
            self.rows.append(self.cells)
            self.cells = None
            return
        if tag == "table" and self.rows is not None:
            self._end_table()
            return
        if tag in _BLOCK:
            self.flush()
        if tag in ("ul", "ol", "blockquote") and self.containers:
            self.containers.pop()
        elif tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
            self.heading = 0
        elif tag in _INLINE_MARK:
            self.inline.append(_INLINE_MARK[tag])
        elif tag == "code" and self.in_code:
            self.inline.append("`")
            self.in_code -= 1
        elif tag == "a":
            href = self.links.pop() if self.links else None
            if href:
                self.inline.append(f"]({href})")
        elif tag in ("span", "div") and self.display_math:
            self.display_math -= 1

    def handle_data(self, data: str) -> None:
        if self.skip:
            if self.tex is not None:
                self.tex.append(data)
            return
        if self.pre:
            self._pre_text(data)
            return
        text = re.sub(r"\s+", " ", data)
        self.inline.append(text.replace("`", "") if self.in_code else _ESCAPE.sub(r"\\\1", text))

    def _pre_text(self, data: str) -> None:
        self.pre_all.append(data)
        if self.pre_code is not None and self.in_code:
            self.pre_code.append(data)

    def _end_pre(self) -> None:
        code = "".join(self.pre_code if self.pre_code is not None else self.pre_all)
        code = code.strip("\n")
        longest = max((len(run) for run in re.findall(r"`+", code)), default=0)
        fence = "`" * max(3, longest + 1)
        self._emit(f"{fence}{self.pre_lang}\n{code}\n{fence}")
        self.pre, self.pre_all, self.pre_code, self.in_code = 0, [], None, 0

    def _end_table(self) -> None:
        rows, self.rows = self.rows or [], None
        width = max((len(row) for row in rows), default=0)
        if not width:
            return
        lines = ["| " + " | ".join(row + [""] * (width - len(row))) + " |" for row in rows]
        lines.insert(1, "|" + " --- |" * width)
        self._emit("\n".join(lines))

    def result(self) -> str:
        self.close()
        if self.pre:
            self._end_pre()
        self.flush()
        out: list[str] = []
        previous = False
        for text, in_list in self.blocks:
            if out:
                out.append("\n" if in_list and previous else "\n\n")  # tight lists
            out.append(text)
            previous = in_list
        return "".join(out).strip()


def html_to_markdown(html_text: str) -> str:
    """Markdown for an HTML fragment (see the module contract)."""
    parser = _Markdown()
    parser.feed(html_text)
    return parser.result()
