"""What an adapter reports when its store says no, in the same words whichever adapter runs (the ports' contracts name
them), so services never see an SDK's exceptions."""

from __future__ import annotations


class ConditionFailed(Exception):
    """A conditional write did not hold (item exists / is absent / has another version). Nothing was written."""


class DependencyUnavailable(Exception):
    """The backing store could not be reached or refused the call for reasons of its own (maps to 502/503)."""


class CollectionNotFound(Exception):
    """The vector collection does not exist."""


class BlobNotFound(Exception):
    """No blob has this key."""


class ComputeUnavailable(Exception):
    """The compute an execution asked for cannot run jobs from here (no credentials, not configured, unknown): the
    request is refused (400) and nothing is recorded. `how_to_enable` tells the caller what is missing."""

    def __init__(self, message: str, how_to_enable: str | None = None) -> None:
        super().__init__(message)
        self.how_to_enable = how_to_enable


class ColdStoreUnavailable(DependencyUnavailable):
    """The cold store could not answer (a query falls back to the hot tier with a warning)."""


class SecretNotFound(DependencyUnavailable):
    """A secret (or the revision of it a record names) is not in the secret store: the record cannot be used (503)."""
