"""Entry points whose service a later issue adds: they are deployed and wired now, and say so when invoked early."""

from __future__ import annotations

import dataclasses

from openpeek.runtime import Services


def require_service(name: str, issue: str) -> None:
    """Raise a NotImplementedError naming the issue until `Services` has the field (checked on the class, so nothing
    is built and no store is touched just to find out)."""
    if name not in {field.name for field in dataclasses.fields(Services)}:
        raise NotImplementedError(f"the '{name}' service is not built yet: it arrives with {issue}")
