"""Edge cases for tool use: python, browsing, citations, web search, reasoning, errors."""

from __future__ import annotations

import random
from typing import Any

from parley.synth.content import (
    Conversation,
    b62,
    code_content,
    image_pointer,
    sediment,
    text_content,
    uuid,
)
from parley.synth.edges_kit import EdgeBuilder, begin, registrar

CASES: dict[str, EdgeBuilder] = {}
_edge = registrar(CASES)


@_edge("python-tool")
def _e_python(rng: random.Random, t: float) -> Conversation:
    b, cid = begin(rng, t, "python-tool")
    b.add("user", text_content("Plot y = x² for x in 0..10 and give me the area under it."))
    code = (
        "import numpy as np\nimport matplotlib.pyplot as plt\n"
        "x = np.linspace(0, 10, 200)\nplt.plot(x, x**2)\nplt.show()\nnp.trapz(x**2, x)"
    )
    b.add("assistant", code_content(code), recipient="python", end_turn=False)
    url = f"file-service://file-{b62(rng, 22)}"
    image = {
        "message_type": "image",
        "time": b.clock + 1.1,
        "sender": "server",
        "image_payload": None,
        "image_url": url,
        "width": 1000,
        "height": 600,
    }
    result = {
        "status": "success",
        "run_id": uuid(rng),
        "start_time": b.clock,
        "code": code,
        "end_time": b.clock + 1.2,
        "final_expression_output": "333.3375",
        "in_kernel_exception": None,
        "system_exception": None,
        "messages": [image],
        "jupyter_messages": [],
        "timeout_triggered": None,
    }
    output = {"content_type": "execution_output", "text": "333.3375"}
    b.add("tool", output, name="python", meta={"aggregate_result": result})
    answer = "The area is about **333.34** — exactly $\\int_0^{10} x^2\\,dx = \\frac{1000}{3}$."
    b.add("assistant", text_content(answer), end_turn=True)
    return b.finish(cid, "Plot of x squared")


def _legacy_citations(text: str, sources: list[tuple[str, str, str]]) -> list[dict[str, Any]]:
    citations = []
    for marker, title, url in sources:
        start = text.index(marker)
        extra = {"cited_message_idx": int(marker[1:].split("†")[0]), "evidence_text": "source"}
        meta = {"type": "webpage", "title": title, "url": url, "text": "", "extra": extra}
        citations.append(
            {
                "start_ix": start,
                "end_ix": start + len(marker),
                "metadata": meta,
                "citation_format_type": "tether_og",
            }
        )
    return citations


@_edge("browsing-legacy")
def _e_browsing(rng: random.Random, t: float) -> Conversation:
    b, cid = begin(rng, t, "browsing-legacy", slug="gpt-4-browsing", new_era=False)
    b.add("user", text_content("What's the latest Python release?"))
    b.add(
        "assistant",
        code_content('search("latest Python release")'),
        recipient="browser",
        end_turn=False,
    )
    result = (
        "# 【0†Python Release Python 3.12.0†www.python.org】\nPython 3.12.0 is the newest major "
        "release.\n# 【1†What's New In Python 3.12†docs.python.org】\nSummary of changes."
    )
    display = {
        "content_type": "tether_browsing_display",
        "result": result,
        "summary": None,
        "assets": None,
        "tether_id": None,
    }
    b.add("tool", display, name="browser")
    browse = {"content_type": "tether_browsing_code", "text": "mclick([0])"}
    b.add("assistant", browse, recipient="browser", end_turn=False)
    url = "https://www.python.org/downloads/release/python-3120/"
    quote = {
        "content_type": "tether_quote",
        "url": url,
        "domain": "www.python.org",
        "text": "Python 3.12.0 is the newest major release of the Python programming language.",
        "title": "Python Release Python 3.12.0",
        "tether_id": None,
    }
    b.add("tool", quote, name="browser")
    text = "The latest release is Python 3.12.0【0†source】."
    cites = _legacy_citations(text, [("【0†source】", "Python Release Python 3.12.0", url)])
    b.add("assistant", text_content(text), end_turn=True, meta={"citations": cites})
    return b.finish(cid, "Latest Python release")


@_edge("legacy-citations")
def _e_legacy_citations(rng: random.Random, t: float) -> Conversation:
    b, cid = begin(rng, t, "legacy-citations", slug="gpt-4", new_era=False)
    b.add("user", text_content("When were Python 3.12 and 3.13 released?"))
    text = "Python 3.12 came out in October 2023【11†source】 and 3.13 a year later【12†source】."
    sources = [
        (
            "【11†source】",
            "Python 3.12 release",
            "https://www.python.org/downloads/release/python-3120/",
        ),
        (
            "【12†source】",
            "Python 3.13 release",
            "https://www.python.org/downloads/release/python-3130/",
        ),
    ]
    b.add(
        "assistant",
        text_content(text),
        end_turn=True,
        meta={"citations": _legacy_citations(text, sources)},
    )
    return b.finish(cid, "Python release dates")


@_edge("web-search")
def _e_web_search(rng: random.Random, t: float) -> Conversation:
    b, cid = begin(rng, t, "web-search")
    b.add("user", text_content("Who won the 2024 Tour de France?"))
    query = '{"search_query": [{"q": "2024 Tour de France winner"}]}'
    b.add("assistant", code_content(query), recipient="web.run", end_turn=False)
    pages = [
        (
            f"https://news{i}.example.com/tour-2024",
            f"news{i}.example.com",
            f"Tour de France 2024 report {i}",
            "Tadej Pogačar won the 2024 Tour de France, his third overall victory.",
        )
        for i in range(4)
    ]
    for i, (url, domain, title, snippet) in enumerate(pages):
        page = {
            "content_type": "sonic_webpage",
            "url": url,
            "domain": domain,
            "title": title,
            "text": snippet * 3,
            "snippet": snippet,
            "pub_date": 1_721_600_000.0,
            "crawl_date": None,
            "ref_id": f"turn0search{i}",
        }
        b.add("tool", page, name="web.run", dt=0.2)
    m0, m3 = "\ue200cite\ue202turn0search0\ue201", "\ue200cite\ue202turn0search3\ue201"
    text = f"Tadej Pogačar won the 2024 Tour de France {m0}. It was his third victory {m3}."
    refs = []
    for marker, (url, domain, title, snippet) in ((m0, pages[0]), (m3, pages[3])):
        start = text.index(marker)
        item = {
            "title": title,
            "url": url,
            "pub_date": None,
            "snippet": snippet,
            "attribution": domain,
        }
        refs.append(
            {
                "matched_text": marker,
                "start_idx": start,
                "end_idx": start + len(marker),
                "alt": f"([{domain}]({url}))",
                "type": "grouped_webpages",
                "items": [item],
            }
        )
    b.add("assistant", text_content(text), end_turn=True, meta={"content_references": refs})
    return b.finish(cid, "Tour de France 2024")


@_edge("reasoning")
def _e_reasoning(rng: random.Random, t: float) -> Conversation:
    b, cid = begin(rng, t, "reasoning", slug="o3")
    for question, recap in (
        ("Is 1001 prime?", "Thought for 14s"),
        ("Et 1009 ?", "Réflexion pendant 9 s"),
    ):
        b.add("user", text_content(question))
        thoughts = [
            {
                "summary": "Checking small factors",
                "content": "1001 = 7 × 11 × 13, so test 7 first.",
                "chunks": ["1001 / 7 = 143"],
                "finished": True,
            },
            {
                "summary": "Double-checking",
                "content": "143 = 11 × 13.",
                "chunks": [],
                "finished": True,
            },
        ]
        content = {
            "content_type": "thoughts",
            "thoughts": thoughts,
            "source_analysis_msg_id": uuid(rng),
        }
        b.add("assistant", content, meta={"reasoning_status": "is_reasoning"})
        b.add(
            "assistant",
            {"content_type": "reasoning_recap", "content": recap},
            meta={"reasoning_status": "reasoning_ended", "finished_duration_sec": 14},
        )
        b.add(
            "assistant",
            text_content(
                "No: 1001 = 7 × 11 × 13." if "1001" in question else "Oui, 1009 est premier."
            ),
            end_turn=True,
        )
    return b.finish(cid, "Prime check")


@_edge("system-error")
def _e_system_error(rng: random.Random, t: float) -> Conversation:
    b, cid = begin(rng, t, "system-error")
    b.add("user", text_content("Summarise https://example.com/report.pdf"))
    b.add(
        "assistant",
        code_content('open_url("https://example.com/report.pdf")'),
        recipient="browser",
        end_turn=False,
    )
    error = {
        "content_type": "system_error",
        "name": "tool_error",
        "text": "Timeout: the site took too long to respond.",
    }
    b.add("tool", error, name="browser")
    b.add(
        "assistant",
        text_content("Sorry — I couldn't open that link. Could you paste the text?"),
        end_turn=True,
    )
    return b.finish(cid, "Report summary")


@_edge("computer-use")
def _e_computer(rng: random.Random, t: float) -> Conversation:
    b, cid = begin(rng, t, "computer-use")
    b.add("user", text_content("Book a table for two at 7pm."))
    b.add(
        "assistant",
        code_content('{"action": "click", "x": 412, "y": 230}', "json"),
        recipient="computer.do",
        end_turn=False,
    )
    output = {
        "content_type": "computer_output",
        "computer_id": "computer-1",
        "screenshot": image_pointer(sediment(rng), 1280, 800),
        "tether_id": None,
        "state": {
            "type": "browser_state",
            "url": "https://restaurants.example.com/",
            "title": "Tables",
        },
        "is_ephemeral": None,
    }
    b.add("tool", output, name="computer")
    b.add("assistant", text_content("I found a table at 7:00 PM. Shall I confirm?"), end_turn=True)
    return b.finish(cid, "Dinner booking")
