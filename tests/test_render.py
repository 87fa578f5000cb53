"""The sanitizing renderer: an XSS corpus checked on parsed output, plus positive rendering."""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest

from parley.render import (
    ALLOWED_TAGS,
    MATHML_ATTRIBUTES,
    MATHML_TAGS,
    MAX_AVATAR_BYTES,
    MAX_MATH_CHARS,
    render_markdown,
    render_text,
    safe_avatar,
    safe_url,
    sanitize_html,
)

FORBIDDEN_TAGS = {
    *("script", "iframe", "style", "svg", "object", "embed", "form", "input", "maction"),
    *("mglyph", "annotation-xml", "malignmark"),
    *("textarea", "button", "link", "meta", "base", "frame", "frameset", "video", "audio"),
    *("template", "noscript", "select", "option", "applet", "body", "html", "head"),
}
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "xlink:href", "background", "poster"}


class Walker(HTMLParser):
    """Every start tag with its attributes (values already entity-decoded by the parser)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(html: str) -> Walker:
    walker = Walker()
    walker.feed(html)
    walker.close()
    return walker


def url_scheme(value: str) -> str:
    # Browsers drop ASCII whitespace/control characters anywhere in a URL before parsing.
    squeezed = "".join(c for c in value if ord(c) > 0x20 and c != "\x7f")
    return urlsplit(squeezed).scheme.lower() if ":" in squeezed.split("/")[0] else ""


def assert_safe(html: str) -> Walker:
    walker = parse(html)
    for tag, attrs in walker.tags:
        assert tag not in FORBIDDEN_TAGS, (tag, html)
        assert tag in ALLOWED_TAGS or tag in MATHML_TAGS, (tag, html)
        for name, value in attrs:
            if tag in MATHML_TAGS:  # only the renderer's own MathML, with harmless attributes
                allowed = MATHML_ATTRIBUTES | {"encoding" if tag == "annotation" else "display"}
                assert name in allowed | ({"xmlns"} if tag == "math" else set()), (tag, name)
            assert not name.startswith("on"), (tag, name, html)
            assert name not in ("style", "srcdoc", "formaction", "action"), (tag, name, html)
            if name in URL_ATTRIBUTES and value is not None:
                assert url_scheme(value) in ("", "http", "https", "mailto"), (value, html)
        if tag == "a" and any(name == "href" for name, _ in attrs):
            assert ("rel", "nofollow noopener noreferrer") in attrs
    return walker


MARKDOWN_CORPUS = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    "<img src=x onerror=alert(1)>",
    "<IMG SRC=x OnErRoR=alert(1)>",
    "<img src=x onerror\n=alert(1)>",
    "<svg onload=alert(1)>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    '<iframe src="javascript:alert(1)"></iframe>',
    "<style>body{display:none}</style>",
    '<form action="javascript:alert(1)"><input type=submit></form>',
    '<a href="',
    "[a](javascript:alert(1))",
    "[a](JaVaScRiPt:alert(1))",
    "[a](&#106;avascript:alert(1))",
    "[a](&#x6A;&#x61;&#x76;&#x61;&#x73;&#x63;&#x72;&#x69;&#x70;&#x74;&#x3A;alert(1))",
    "[a](javascript&colon;alert(1))",
    "[a](   javascript:alert(1))",
    "[a](<javascript:alert(1)>)",
    "[a](java\tscript:alert(1))",
    "[a](vbscript:msgbox(1))",
    "[a](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "![x](javascript:alert(1))",
    "![x](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)",
    "![x](data:image/png;base64,iVBORw0KGgo=)",
    '![x](https://ok.example/i.png "a\\" onerror=\\"alert(1))',
    "<javascript:alert(1)>",
    "<JAVASCRIPT:alert(1)>",
    "<vbscript:msgbox(1)>",
    "[a][r]\n\n[r]: javascript:alert(1)",
    '[a][r]\n\n[r]: <javascript:alert(1)> "t"',
    "[a]\n\n[a]: &#106;avascript:alert(1)",
    "![i][r]\n\n[r]: data:text/html,<script>alert(1)</script>",
    '[x](https://ok.example "title\\" onmouseover=\\"alert(1)")',
    "```html\n<script>alert(1)</script><img src=x onerror=alert(1)>\n```",
    '```"><script>alert(1)</script>\ncode\n```',
    "`<b onclick=x>inline</b>`",
    "> <script>alert(1)</script>\n> > <img src=x onerror=alert(1)>",
    "> quote\n>> nested \"quotes\" and 'single' <a href='javascript:x'>",
    "$<script>alert(1)</script>$ and $$</div><script>x</script>$$",
    "\\(<img src=x onerror=alert(1)>\\)\n\n\\[\n</div><script>1</script>\n\\]",
    "Footnote[^<x>]\n\n[^<x>]: <img src=x onerror=alert(1)>",
    "| a | <b onclick=1> |\n|---|---|\n| <script>x</script> | [l](javascript:1) |",
    "<details open ontoggle=alert(1)><summary>x</summary></details>",
    '<a href="https://ok.example" onclick="alert(1)">x</a>',
    "<!--<script>alert(1)</script>-->",
]

RAW_HTML_CORPUS = [
    *MARKDOWN_CORPUS,
    '<a href="javascript:alert(1)">x</a>',
    '<a href=" javascript:alert(1)">x</a>',
    '<a href="jav&#x09;ascript:alert(1)">x</a>',
    '<a href="jav\nascript:alert(1)">x</a>',
    '<a href="&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;alert(1)">x</a>',
    '<a href="JaVaScRiPt:alert(1)">x</a>',
    '<a href="vbscript:msgbox(1)">x</a>',
    '<a href="data:text/html,<script>alert(1)</script>">x</a>',
    '<img src="data:image/svg+xml,<svg onload=alert(1)>">',
    '<img src="x" ONERROR="alert(1)" onLoad=alert(2) oNcLiCk =alert(3)>',
    "<img/src=x/onerror=alert(1)>",
    '<div style="background:url(javascript:alert(1))" onmouseover="x">x</div>',
    '<p onclick="x" ONMOUSEOVER="y">x</p>',
    "<body onload=alert(1)>",
    '<object data="javascript:alert(1)"></object><embed src="x.swf">',
    '<base href="javascript:/">',
    '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    '<link rel="stylesheet" href="https://evil.example/x.css">',
    '"><script>alert(1)</script>',
    "<scr<script>ipt>alert(1)</script>",
    '<noscript><p title="</noscript><img src=x onerror=alert(1)>"></noscript>',
    "<template><script>alert(1)</script></template>",
    "<table><tr><td onmouseover=alert(1)>x</td></tr></table>",
    "<video src=x onerror=alert(1)></video><audio src=x onerror=alert(1)>",
    "<a href='x' title=\"a'b\\\"c\" onclick=1>q</a>",
    '<svg><a xlink:href="javascript:alert(1)"><text>x</text></a></svg>',
    '<math><maction actiontype="statusline" xlink:href="javascript:alert(1)">x</maction></math>',
    '<span class="x" id="user-chosen">x</span><li id="fn1">ok</li>',
    '<input autofocus onfocus=alert(1)><textarea>x</textarea><button formaction="javascript:1">',
]


@pytest.mark.parametrize("source", MARKDOWN_CORPUS)
def test_markdown_corpus_is_safe(source: str) -> None:
    assert_safe(render_markdown(source))


@pytest.mark.parametrize("source", RAW_HTML_CORPUS)
def test_raw_html_corpus_is_safe(source: str) -> None:
    assert_safe(sanitize_html(source))


@pytest.mark.parametrize("source", RAW_HTML_CORPUS)
def test_plain_text_corpus_is_inert(source: str) -> None:
    walker = assert_safe(render_text(source))
    assert {tag for tag, _ in walker.tags} <= {"br"}


def test_raw_html_in_markdown_is_shown_as_text() -> None:
    out = render_markdown("hi <script>alert(1)</script> <img src=x onerror=alert(1)>")
    walker = assert_safe(out)
    assert not walker.tags or {t for t, _ in walker.tags} == {"p"}
    assert "<script>alert(1)</script>" in "".join(walker.text)


def test_html_in_code_fence_is_escaped_and_visible() -> None:
    out = render_markdown("```html\n<script>alert(1)</script>\n```")
    walker = assert_safe(out)
    assert "&lt;" in out
    assert "<script>alert(1)</script>" in "".join(walker.text)


def test_unknown_language_fence_is_plain_escaped() -> None:
    out = render_markdown("```no-such-language\n<b>x</b>\n```")
    assert "&lt;b&gt;x&lt;/b&gt;" in out
    assert 'class="language-no-such-language"' in out


def test_javascript_links_lose_their_href_but_keep_text() -> None:
    for source in ("[click](javascript:alert(1))", "[click](JaVaScRiPt:alert(1))"):
        walker = assert_safe(render_markdown(source))
        assert all(name != "href" for _, attrs in walker.tags for name, _ in attrs)
        assert "click" in "".join(walker.text)


def test_id_and_class_values_are_restricted() -> None:
    out = sanitize_html('<li id="user-chosen" class="a&quot;b">x</li><a id="fnref3">y</a>')
    walker = parse(out)
    attrs = dict(walker.tags[0][1])
    assert "id" not in attrs
    assert dict(walker.tags[1][1])["id"] == "fnref3"


# --- Positive rendering -------------------------------------------------------------------


def tags_of(html: str) -> list[str]:
    return [tag for tag, _ in parse(html).tags]


def test_tables_with_alignment_as_classes() -> None:
    out = render_markdown("| a | b |\n|:--|--:|\n| 1 | 2 |")
    walker = assert_safe(out)
    assert {"table", "thead", "tbody", "tr", "th", "td"} <= set(tags_of(out))
    classes = [dict(attrs).get("class") for tag, attrs in walker.tags if tag in ("th", "td")]
    assert "align-left" in classes and "align-right" in classes


def test_code_is_highlighted_with_classes_only() -> None:
    out = render_markdown("```python\ndef f():\n    return 1\n```")
    walker = assert_safe(out)
    assert '<pre class="highlight"><code class="language-python">' in out
    assert '<span class="k">def</span>' in out
    assert all(name != "style" for _, attrs in walker.tags for name, _ in attrs)


def test_math_is_typeset_as_mathml_with_tex_annotation() -> None:
    out = render_markdown(
        "Inline $a < b_1$ and \\(x^2\\).\n\n$$\n\\sum_i x_i\n$$\n\n\\[\nE=mc^2\n\\]"
    )
    assert_safe(out)
    inline = '<span class="math inline"><math xmlns="http://www.w3.org/1998/Math/MathML"'
    assert out.count(inline) == 2
    assert "<mo>&lt;</mo><msub><mi>b</mi><mn>1</mn></msub>" in out
    assert "<msup><mi>x</mi><mn>2</mn></msup>" in out
    assert '<annotation encoding="application/x-tex">a &lt; b_1</annotation>' in out
    assert '<annotation encoding="application/x-tex">\\sum_i x_i</annotation>' in out
    block = '<div class="math display"><math xmlns="http://www.w3.org/1998/Math/MathML"'
    assert out.count(block + ' display="block">') == 2
    assert "<munder><mo>∑</mo><mi>i</mi></munder>" in out
    assert "\\(" not in out and "\\[" not in out


def test_dollar_x_squared_is_msup() -> None:
    out = render_markdown("$x^2$")
    walker = assert_safe(out)
    tags = [tag for tag, _ in walker.tags]
    assert tags[:2] == ["p", "span"] and "math" in tags and "msup" in tags
    math_attrs = dict(next(attrs for tag, attrs in walker.tags if tag == "math"))
    assert math_attrs["display"] == "inline"


def test_inline_double_dollar_is_block_math() -> None:
    out = render_markdown("see $$a+b$$ here")
    assert '<span class="math display"><math' in out and 'display="block"' in out


HOSTILE_TEX = [
    "$\\href{javascript:alert(1)}{x}$",
    "\\(\\href{javascript:alert(1)}{\\text{click}}\\)",
    "$<script>alert(1)</script>$",
    "\\(\\text{<script>alert(1)</script>}\\)",
    "$\\text{</math><img src=x onerror=alert(1)>}$",
    "$$\n\\style{background:url(javascript:alert(1))}{x}\n$$",
    "$\\class{evil}{x} \\color{red}{y} \\mathcolor{red}{z} \\cssId{i}{w}$",
    "$\\html{<b onmouseover=alert(1)>x</b>}$",
    "$\\text{&lt;script&gt;alert(1)&lt;/script&gt;}$",
    "$\\text{<![CDATA[<img src=x onerror=alert(1)>]]>}$",
    "$\\begin{array}{c}\\href{javascript:1}{a}\\end{array}$",
    "$" + "x^" * 5_000 + "x$",
    "$" + "{" * 2_000 + "x" + "}" * 2_000 + "$",
    "$" + "\\frac{a}{b}" * 1_000 + "$",
]


@pytest.mark.parametrize("source", HOSTILE_TEX)
def test_hostile_tex_is_inert(source: str) -> None:
    out = render_markdown(source)
    walker = assert_safe(out)
    for tag, attrs in walker.tags:
        assert tag not in ("script", "img", "b", "style", "a")
        for name, value in attrs:
            assert not name.startswith("on") and name not in ("href", "style", "xlink:href")
            assert name != "class" or tag in ("span", "div", "p"), (tag, name, value)
            assert "javascript" not in (value or "").lower()
    assert "<script" not in out and "<img" not in out
    assert "evil" not in [value for _, attrs in walker.tags for _, value in attrs]


def test_ten_thousand_char_tex_falls_back_to_escaped_tex() -> None:
    tex = "x+" * 5_000
    assert len(tex) > MAX_MATH_CHARS
    out = render_markdown(f"${tex}y$")
    assert_safe(out)
    assert "<math" not in out
    assert out.startswith(f'<p><span class="math inline">\\({tex}y\\)</span>')


def test_unconvertible_tex_falls_back_to_escaped_tex() -> None:
    out = render_markdown("$x^2^3 < y$\n\n$$\na^1^2\n$$")
    assert_safe(out)
    assert "<math" not in out
    assert '<span class="math inline">\\(x^2^3 &lt; y\\)</span>' in out
    assert '<div class="math display">\\[a^1^2\\]</div>' in out


def test_math_placeholders_cannot_be_forged() -> None:
    out = render_markdown("parleymath0000000000000000x0z and $x$ `parleymathx0z`")
    assert "parleymath0000000000000000x0z" in out and "parleymathx0z" in out
    assert out.count("<math") == 1


def test_math_in_tables_lists_and_footnotes() -> None:
    out = render_markdown("| a |\n|---|\n| $x_1$ |\n\n- $y^2$\n\nNote[^1]\n\n[^1]: $z$")
    assert_safe(out)
    assert out.count("<math") == 3 and "<msub>" in out and "<msup>" in out


def test_dollar_amounts_are_not_math() -> None:
    out = render_markdown("It costs $5 and $10 today.")
    assert "math" not in out
    assert "$5 and $10" in out


def test_footnotes() -> None:
    out = render_markdown("Claim[^1].\n\n[^1]: Source text.", doc_id="m7")
    walker = assert_safe(out)
    assert "footnotes" in out
    ids = {dict(attrs).get("id") for _, attrs in walker.tags} - {None}
    assert ids == {"fnref-m7-1", "fn-m7-1"}
    assert 'href="#fn-m7-1"' in out


def test_lists_strikethrough_links_images() -> None:
    out = render_markdown(
        "- one\n- two\n\n1. first\n2. second\n\n~~gone~~ [site](https://example.com) "
        "![pic](https://example.com/p.png) <https://example.com/auto> <me@example.com>"
    )
    walker = assert_safe(out)
    names = tags_of(out)
    assert names.count("li") == 4 and "ul" in names and "ol" in names
    assert "s" in names or "del" in names
    hrefs = [dict(a)["href"] for t, a in walker.tags if t == "a"]
    assert hrefs == ["https://example.com", "https://example.com/auto", "mailto:me@example.com"]
    assert ("img", [("src", "https://example.com/p.png"), ("alt", "pic")]) in walker.tags


def test_render_text_keeps_lines_and_does_not_link() -> None:
    out = render_text("a < b\r\nsee https://example.com\n**not bold**")
    assert out == "a &lt; b<br>\nsee https://example.com<br>\n**not bold**"


# --- URLs ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    ["https://example.com/a?b=c", "http://example.com", " https://example.com ", "/avatar/1.png"],
)
def test_safe_url_accepts(url: str) -> None:
    assert safe_url(url) == url.strip()


@pytest.mark.parametrize(
    "url",
    [
        None,
        "",
        "javascript:alert(1)",
        " JaVaScRiPt:alert(1)",
        "java\tscript:alert(1)",
        "data:image/png;base64,AAAA",
        "vbscript:x",
        "//evil.example/x",
        "/\\evil.example",
        "ftp://example.com/x",
        "https://",
        "http:\\\\evil.example",
        'https://example.com/"onmouseover=x',
        "relative/path.png",
        "mailto:me@example.com",
    ],
)
def test_safe_url_rejects(url: str | None) -> None:
    assert safe_url(url) is None


def test_safe_avatar() -> None:
    png = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUg=="
    assert safe_avatar(png) == png
    assert safe_avatar("data:image/webp;base64,UklGR==") is not None
    assert safe_avatar("https://example.com/a.png") == "https://example.com/a.png"
    assert safe_avatar("data:image/svg+xml;base64,PHN2Zz4=") is None
    assert safe_avatar("data:text/html;base64,PHNjcmlwdD4=") is None
    assert safe_avatar("data:image/png,rawbytes") is None
    assert safe_avatar("data:image/png;base64,AA AA") is None
    assert safe_avatar('data:image/png;base64,AAAA"><script>') is None
    too_big = "data:image/png;base64," + "A" * MAX_AVATAR_BYTES
    assert safe_avatar(too_big) is None
    assert safe_avatar("javascript:alert(1)") is None


@pytest.mark.parametrize(
    "bad",
    [
        "<script>x</script>",
        "<img src=x OnError=alert(1)>",
        '<a href=" jav&#x09;ascript:alert(1)" rel="nofollow noopener noreferrer">x</a>',
        "<p style=color:red>x</p>",
        "<svg></svg>",
        '<math><maction actiontype="statusline">x</maction></math>',
        '<math><mi href="https://e.example">x</mi></math>',
        '<math><mi class="x">x</mi></math>',
        '<math><mstyle mathcolor="red">x</mstyle></math>',
        '<math><annotation-xml encoding="text/html"><b>x</b></annotation-xml></math>',
    ],
)
def test_the_checker_itself_catches_unsafe_html(bad: str) -> None:
    with pytest.raises(AssertionError):
        assert_safe(bad)


def test_escaped_brackets_stay_brackets_and_bracket_display_math() -> None:
    out = render_markdown(
        "Paris \\[wiki\\] here\n\n\\[ a+b \\]\n\nText\n\\[\nx\n\\]\n\n\\[\n\nnot math"
    )
    assert "<p>Paris [wiki] here</p>" in out
    assert out.count('<div class="math display"><math') == 2
    assert "<mi>a</mi><mo>+</mo><mi>b</mi>" in out
    assert '<annotation encoding="application/x-tex">x</annotation>' in out
    assert "<p>[</p>" in out and "not math" in out
