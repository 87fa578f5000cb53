"""Posted chat HTML -> Markdown: structure kept, markup and scripts never copied."""

from __future__ import annotations

import pytest

from parley.render import render_markdown
from parley.social_html import html_to_markdown, looks_like_html


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('<div class="markdown"><p>hi</p></div>', True),
        ("<p>one</p>", True),
        ("<br/>", True),
        ("I think <b> is bold", False),
        ("plain text", False),
        ("x < y and y > z", False),
        ("<3 you", False),
    ],
)
def test_looks_like_html(value: str, expected: bool) -> None:
    assert looks_like_html(value) is expected


@pytest.mark.parametrize(
    ("html", "markdown"),
    [
        ("<p>a <strong>b</strong> <em>c</em> <del>d</del></p>", "a **b** *c* ~~d~~"),
        ("<h2>Title</h2><p>body</p>", "## Title\n\nbody"),
        ("<p>2*3 = [6]_</p>", "2\\*3 = \\[6\\]\\_"),
        ("<p>use <code>a*b</code></p>", "use `a*b`"),
        (
            "<ul><li>one</li><li>two<ol><li>a</li><li>b</li></ol></li></ul>",
            "- one\n- two\n   1. a\n   2. b",
        ),
        ('<ol start="3"><li>c</li></ol>', "3. c"),
        ("<blockquote><p>quoted</p></blockquote>", "> quoted"),
        ("<p>line<br>break</p>", "line\nbreak"),
        ("<hr><p>x</p>", "---\n\nx"),
        (
            '<p><a href="https://e.org/x">ok</a> <a href="javascript:alert(1)">bad</a></p>',
            "[ok](https://e.org/x) bad",
        ),
        (
            '<p><img src="https://e.org/i.png" alt="pic"><img src="data:x" onerror="alert(1)"></p>',
            "![pic](https://e.org/i.png)",
        ),
        (
            "<table><tr><th>A</th><th>B</th></tr><tr><td>1</td><td>x|y</td></tr></table>",
            "| A | B |\n| --- | --- |\n| 1 | x\\|y |",
        ),
        ("<p>a</p><script>alert(1)</script><style>p{}</style><svg><text>s</text></svg>", "a"),
        (
            '<p><span class="katex"><span class="katex-mathml"><math><semantics><mrow/>'
            '<annotation encoding="application/x-tex">x^2</annotation></semantics></math></span>'
            '<span class="katex-html">x2</span></span></p>',
            "$x^2$",
        ),
    ],
)
def test_structure(html: str, markdown: str) -> None:
    assert html_to_markdown(html) == markdown


def test_chatgpt_code_blocks_lose_their_header_and_keep_the_language() -> None:
    html = (
        '<pre><div class="bg-black"><div class="flex"><span>python</span>'
        '<button class="flex"><svg></svg>Copy code</button></div><div class="p-4">'
        '<code class="!whitespace-pre hljs language-python"><span class="hljs-keyword">def'
        '</span> f():\n    return "```"\n</code></div></div></pre>'
    )
    assert html_to_markdown(html) == '````python\ndef f():\n    return "```"\n````'


def test_the_output_renders_to_safe_html() -> None:
    hostile = (
        '<div><p onclick="x()">t</p><img src=x onerror=alert(1)><iframe src="https://e.org">'
        '</iframe><a href="jav&#x61;script:alert(1)">x</a><p>&lt;script&gt;alert(1)&lt;/script&gt;'
        "</p></div>"
    )
    rendered = render_markdown(html_to_markdown(hostile))
    for bad in ("onclick", "onerror", "<iframe", "<script", "javascript:"):
        assert bad not in rendered
    assert "&lt;script&gt;" in rendered  # text that looks like markup stays text


def test_unclosed_markup_still_gives_text() -> None:
    assert (
        html_to_markdown("<div><p>open <b>bold<pre><code>x = 1") == "open **bold\n\n```\nx = 1\n```"
    )
