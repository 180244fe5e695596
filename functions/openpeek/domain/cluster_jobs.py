"""A cluster job: the identifiers its steps (prepare → engine → finalize, mark-failed on error) need to find everything
else, wherever they run."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


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
    compute: str | None = None
    """Where the engine step runs ("local", "sagemaker"), when the execution asked; None: the server's default."""
    instance_type: str | None = None
    """The SageMaker instance type the execution asked for; None: the configured one."""

    def state(self) -> dict[str, str]:
        """The state machine's input; the step handlers parse it back (handlers/step_functions.py)."""
        state = {"org_id": self.org_id, "namespace_id": self.namespace_id, "cluster_id": self.cluster_id,
                 "run_id": self.run_id, "task_id": self.task_id, "kind": self.kind}
        state.update({name: value for name, value in (("compute", self.compute),
                                                      ("instance_type", self.instance_type)) if value})
        return state

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "ClusterJob":
        return cls(**{name: state[name] for name in ("org_id", "namespace_id", "cluster_id", "run_id", "task_id")},
                   kind=state.get("kind", "cluster"), compute=state.get("compute"),
                   instance_type=state.get("instance_type"))


class JobEnded(Exception):
    """The task ended (canceled, failed) before this step ran: the step does nothing."""
