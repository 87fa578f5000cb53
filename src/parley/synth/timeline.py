"""When conversations happen and which model answers: model eras and the activity calendar."""

from __future__ import annotations

import bisect
import math
import random
from itertools import accumulate

from parley.synth.content import b62

CLIENT_ROOT_SINCE = 1_717_200_000.0  # 2024-06-01: client-created-root replaces root -> system
SEARCH_SINCE = 1_730_332_800.0  # 2024-10-31: web search with content_references
GPT5_SINCE = 1_754_524_800.0  # 2025-08-07: default_model_slug "auto", channel "final"
_ERAS: tuple[tuple[float, tuple[tuple[str, int], ...]], ...] = (
    (0.0, (("text-davinci-002-render-sha", 5), ("gpt-4", 4), ("gpt-4-gizmo", 1))),
    (1_715_558_400.0, (("gpt-4o", 7), ("gpt-4", 1), ("text-davinci-002-render-sha", 2))),
    (1_721_260_800.0, (("gpt-4o", 7), ("gpt-4o-mini", 2), ("gpt-4", 1))),
    (1_726_099_200.0, (("gpt-4o", 6), ("o1-preview", 2), ("o1-mini", 1), ("gpt-4o-mini", 1))),
    (1_733_443_200.0, (("gpt-4o", 6), ("o1", 2), ("o1-mini", 1), ("gpt-4o-mini", 1))),
    (1_738_281_600.0, (("gpt-4o", 6), ("o1", 1), ("o3-mini", 2), ("o3-mini-high", 1))),
    (1_744_761_600.0, (("gpt-4o", 5), ("o3", 2), ("o4-mini", 2), ("gpt-4-1", 1))),
    (GPT5_SINCE, (("gpt-5", 6), ("gpt-5-thinking", 3), ("gpt-4o", 1))),
    (1_762_992_000.0, (("gpt-5-1", 6), ("gpt-5-1-thinking", 3), ("gpt-5", 1))),
)
_ERA_STARTS = [start for start, _ in _ERAS]
_ERA_PICK = [
    ([s for s, _ in models], list(accumulate(w for _, w in models))) for _, models in _ERAS
]
REASONING_MODELS = frozenset(
    s for _, models in _ERAS for s, _ in models if s.startswith("o") or "thinking" in s
)
_HOURS = list(
    accumulate((2, 1, 1, 1, 1, 1, 2, 3, 5, 7, 8, 8, 7, 8, 8, 8, 7, 7, 8, 10, 12, 12, 9, 5))
)


def pick_model(t: float, roll: float) -> str:
    slugs, cum = _ERA_PICK[bisect.bisect_right(_ERA_STARTS, t) - 1]
    return slugs[bisect.bisect_right(cum, roll * cum[-1])]


class Calendar:
    """Per-seed activity calendar: day weights (weekdays, growth, bursts, quiet weeks)."""

    def __init__(self, seed: int, start: float, span_days: int) -> None:
        rng = random.Random(f"parley-synth-calendar-{seed}")
        tz = rng.choice((-8.0, -5.0, 0.0, 1.0, 2.0, 5.5, 8.0, 9.0)) * 3600
        self.start, self.end = start, start + span_days * 86400.0
        self.first = math.floor((start + tz) / 86400) * 86400 - tz
        days = span_days + 1
        base = []
        for d in range(days):
            weekday = (int((self.first + tz) // 86400) + d + 3) % 7  # 1970-01-01 was a Thursday
            base.append((1.0 if weekday < 5 else 0.65) * (0.6 + 0.8 * d / days))
        weights = base[:]
        for _ in range(max(1, days // 20)):  # bursts: a project, an exam week, a trip
            center = rng.randrange(days)
            for off, mult in ((0, 4.0), (1, 2.5), (-1, 1.5), (2, 1.5)):
                if 0 <= center + off < days:
                    weights[center + off] = max(weights[center + off], base[center + off] * mult)
        for _ in range(days // 120):
            quiet = rng.randrange(days)
            for d in range(quiet, min(days, quiet + rng.randint(5, 12))):
                weights[d] *= 0.1
        self.cum = list(accumulate(weights))
        self.projects = [f"g-p-{rng.getrandbits(128):032x}" for _ in range(5)]
        self.gpts = [f"g-{b62(rng, 9)}" for _ in range(6)]

    def time(self, rng: random.Random) -> float:
        r = rng.random
        for _ in range(8):
            day = bisect.bisect_right(self.cum, r() * self.cum[-1])
            hour = bisect.bisect_right(_HOURS, r() * _HOURS[-1])
            t = self.first + day * 86400.0 + (hour + r()) * 3600.0
            if self.start <= t < self.end:
                return round(t, 6)
        return round(self.start + r() * (self.end - self.start), 6)
