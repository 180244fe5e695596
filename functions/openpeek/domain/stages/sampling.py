"""Sampling a working set: uniform, reservoir (one pass, Algorithm R) or stratified (proportional per value of a
field, at least `min_per_stratum` each), with a seed for repeatable draws. The kept documents stay in input order."""

from __future__ import annotations

import random
from typing import Any, Callable, Sequence


def uniform(count: int, size: int, rng: random.Random) -> list[int]:
    return sorted(rng.sample(range(size), min(count, size)))


def reservoir(count: int, size: int, rng: random.Random) -> list[int]:
    kept = list(range(min(count, size)))
    for index in range(count, size):
        slot = rng.randint(0, index)
        if slot < count:
            kept[slot] = index
    return sorted(kept)


def stratified(count: int, strata: Sequence[Any], min_per_stratum: int, rng: random.Random) -> list[int]:
    groups: dict[Any, list[int]] = {}
    for index, value in enumerate(strata):
        groups.setdefault(value, []).append(index)
    size = len(strata)
    if count >= size:
        return list(range(size))
    quotas = {value: max(min_per_stratum, round(count * len(members) / size)) for value, members in groups.items()}
    kept: list[int] = []
    for value, members in groups.items():
        kept += rng.sample(members, min(quotas[value], len(members)))
    if len(kept) > count:  # minimums can overshoot: trim at random, never below one per stratum where possible
        rng.shuffle(kept)
        kept = kept[:count]
    return sorted(kept)


STRATEGIES: dict[str, Callable] = {"random": uniform, "reservoir": reservoir}
