"""A cluster job: the identifiers its steps (prepare → engine → finalize, mark-failed on error) need to find everything
else, wherever they run."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ClusterJob:
    """What the steps need to find everything else. `kind` is "cluster" (an execution) or "layout" (the deferred map
    of a completed execution)."""

    org_id: str
    namespace_id: str
    cluster_id: str
    run_id: str
    task_id: str
    kind: str = "cluster"

    def state(self) -> dict[str, str]:
        """The state machine's input; the step handlers parse it back (handlers/step_functions.py)."""
        return {"org_id": self.org_id, "namespace_id": self.namespace_id, "cluster_id": self.cluster_id,
                "run_id": self.run_id, "task_id": self.task_id, "kind": self.kind}
