"""Steering text lengths so that a generated stream approaches ``target_bytes``."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice

import orjson

from parley.synth.content import Conversation
from parley.synth.edges import EDGE_FIRST, EDGE_STRIDE, EDGES, conversation_at, edge_slot
from parley.synth.pools import Pools, pools
from parley.synth.timeline import Calendar

_SCALES = (0.02, 1000.0)  # the range of the text-length factor used to meet target_bytes


def steered(
    count: int, seed: int, cal: Calendar, edge_cases: bool, target_bytes: int
) -> Iterator[Conversation]:
    """Scale text lengths so that the serialised total approaches ``target_bytes``.

    Model: size_i(scale) = fixed_i + scale * variable_i, fitted at scales 1 and 3. With
    at most 64 regular conversations it is fitted on exactly those (and the last one is
    aimed by secant steps); otherwise on a 32-conversation sample, corrected as the stream
    goes by a damped actual/predicted ratio. Each conversation gets the common scale that
    spends the remaining budget on the remaining conversations. Edge cases are not scaled;
    their sizes are reserved up front. Calibration is eager, so an unreachable target
    raises here rather than on the first ``next()``.
    """
    p = pools()
    low, high = _SCALES
    slots = range(EDGE_FIRST, min(count, EDGE_FIRST + len(EDGES) * EDGE_STRIDE), EDGE_STRIDE)
    reserved = sum(_size(i, seed, cal, True, 1.0, p) for i in slots) if edge_cases else 0
    regular = [i for i in range(count) if edge_slot(i, edge_cases) is None]
    exact = len(regular) <= 64
    every = (i for i in itertools.count() if edge_slot(i, edge_cases) is None)
    model: dict[int, tuple[float, float, float]] = {}  # index -> (fixed, variable, floor)
    for i in regular if exact else islice(every, 32):
        at1, at3 = _size(i, seed, cal, edge_cases, 1.0, p), _size(i, seed, cal, edge_cases, 3.0, p)
        variable = max((at3 - at1) / 2, 1.0)
        model[i] = (at1 - variable, variable, _size(i, seed, cal, edge_cases, low, p))
    scale_to = len(regular) / max(len(model), 1)
    fixed, variable, floor = (sum(m[k] for m in model.values()) * scale_to for k in range(3))
    ceiling = reserved + fixed + high * variable
    if not (reserved + floor) / 1.15 <= target_bytes <= ceiling * 1.15:
        raise ValueError(
            f"target_bytes={target_bytes} is out of reach for {count} conversations (about "
            f"{reserved + floor:.0f} to {ceiling:.0f} bytes; only message lengths are scaled)"
        )
    plan = _Plan(
        float(target_bytes - reserved), fixed, variable, model if exact else None, len(regular)
    )
    return _steer(count, seed, cal, edge_cases, plan, regular[-1] if regular else -1)


def _size(i: int, seed: int, cal: Calendar, edge_cases: bool, scale: float, p: Pools) -> int:
    return len(orjson.dumps(conversation_at(i, seed, cal, edge_cases, scale, p)[0])) + 1


@dataclass
class _Plan:
    budget: float  # bytes still to spend on regular conversations
    fixed: float  # sum of fixed_i over the regular conversations still to come
    variable: float  # sum of variable_i over them
    model: dict[int, tuple[float, float, float]] | None  # per conversation, when exact
    left: int  # how many regular conversations are still to come


def _steer(
    count: int, seed: int, cal: Calendar, edge_cases: bool, plan: _Plan, last: int
) -> Iterator[Conversation]:
    p = pools()
    low, high = _SCALES
    mean = (plan.fixed / max(plan.left, 1), plan.variable / max(plan.left, 1), 0.0)
    prior = 32 * (mean[0] + mean[1])
    actual = predicted = 0.0
    for i in range(count):
        if edge_slot(i, edge_cases) is not None:
            yield conversation_at(i, seed, cal, edge_cases, 1.0, p)[0]
            continue
        fixed, variable, _ = plan.model[i] if plan.model else mean
        ratio = 1.0 if plan.model else (actual + prior) / (predicted + prior)
        goal = (plan.budget / ratio - plan.fixed) / max(plan.variable, 1.0)
        scale = min(max(goal, low), high)
        conv, chars = conversation_at(i, seed, cal, edge_cases, scale, p)
        size = len(orjson.dumps(conv)) + 1
        if i == last and plan.model:  # aim the very last one at what is left (secant)
            best, slope = (abs(size - plan.budget), conv, scale, size), max(chars / scale, 1.0)
            for _ in range(6):
                retry = min(max(scale + (plan.budget - size) / slope, low), high)
                if best[0] <= 0.01 * plan.budget or retry == scale:
                    break
                again, chars = conversation_at(i, seed, cal, edge_cases, retry, p)
                new_size = len(orjson.dumps(again)) + 1
                slope = (new_size - size) / (retry - scale)
                slope = slope if slope > 0 else max(chars / retry, 1.0)
                scale, size = retry, new_size
                best = min(best, (abs(size - plan.budget), again, scale, size), key=lambda b: b[0])
            _, conv, scale, size = best
        plan.budget -= size
        plan.fixed -= fixed
        plan.variable -= variable
        plan.left -= 1
        actual += size
        predicted += fixed + scale * variable
        yield conv
