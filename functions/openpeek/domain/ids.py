"""Prefixed random identifiers (DESIGN.md: ns_, ret_, clu_, run_, task_, wh_, key_)."""

from __future__ import annotations

import secrets

_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
# Bytes below this map onto the alphabet evenly (252 = 7 × 36); the rest are dropped, so every character stays
# uniformly random.
_UNBIASED_BELOW = 256 - 256 % len(_ALPHABET)


def new_id(prefix: str, length: int = 16) -> str:
    """`prefix_` and `length` characters from the OS's random source, read once per id: every retriever execution
    and every write names something, and a read per character (secrets.choice) cost about 30 µs an id."""
    characters: list[str] = []
    while len(characters) < length:
        characters += [_ALPHABET[byte % len(_ALPHABET)] for byte in secrets.token_bytes(length + 4)
                       if byte < _UNBIASED_BELOW]
    return f"{prefix}_" + "".join(characters[:length])
