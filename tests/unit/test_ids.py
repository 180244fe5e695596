"""Identifiers: their shape, and that their characters are spread evenly over the alphabet (a modulo over bytes
without dropping the top ones would make a-d appear 8/7 times as often as the rest)."""

from __future__ import annotations

import re
from collections import Counter

from openpeek.domain.ids import new_id


def test_an_id_is_its_prefix_and_sixteen_lowercase_letters_or_digits():
    assert re.fullmatch(r"exec_[a-z0-9]{16}", new_id("exec"))
    assert re.fullmatch(r"ns_[a-z0-9]{40}", new_id("ns", 40))


def test_ids_do_not_repeat():
    assert len({new_id("x") for _ in range(20_000)}) == 20_000


def test_every_character_is_about_equally_likely():
    counts = Counter("".join(new_id("x")[2:] for _ in range(20_000)))  # 320,000 characters, 8,889 expected each
    assert set(counts) == set("abcdefghijklmnopqrstuvwxyz0123456789")
    # A biased modulo would put a-d near 10,000; the fair spread keeps each within ±6 % (about 6 standard deviations).
    assert max(counts.values()) < 8_889 * 1.06 and min(counts.values()) > 8_889 * 0.94
