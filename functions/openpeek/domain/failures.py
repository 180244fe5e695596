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
