"""Tasks: the handle of an asynchronous operation (seed 004's TaskResponse and TaskStatusEnum).

A task moves PENDING → PROCESSING → COMPLETED | FAILED, or to CANCELED from either active status. Terminal statuses
never change again. Every task carries a deadline, so one whose worker died is reported FAILED rather than staying
active forever.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timedelta
from typing import Any

from openpeek.domain.clock import isoformat, parse

PENDING, PROCESSING, COMPLETED, FAILED, CANCELED = "PENDING", "PROCESSING", "COMPLETED", "FAILED", "CANCELED"
ACTIVE = frozenset({PENDING, "QUEUED", "IN_PROGRESS", PROCESSING})
TERMINAL = frozenset({COMPLETED, "COMPLETED_WITH_ERRORS", FAILED, CANCELED})
CLUSTER_BUILD = "engine_cluster_build"
DEADLINE_MESSAGE = "the task passed its deadline without finishing (its worker stopped); run it again"
ORPHAN_MESSAGE = "the server restarted while this task ran, which ended it; run it again"


@dataclass(frozen=True)
class Task:
    task_id: str
    namespace_id: str
    task_type: str
    status: str
    created_at: str
    updated_at: str
    deadline_at: str
    inputs: list[Any] = field(default_factory=list)
    outputs: list[Any] | None = None
    additional_data: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    version: int = 1

    @staticmethod
    def new(task_id: str, namespace_id: str, task_type: str, now: datetime, max_runtime_s: int,
            inputs: list[Any], additional_data: dict[str, Any]) -> "Task":
        stamp = isoformat(now)
        return Task(task_id=task_id, namespace_id=namespace_id, task_type=task_type, status=PENDING,
                    created_at=stamp, updated_at=stamp, deadline_at=isoformat(now + timedelta(seconds=max_runtime_s)),
                    inputs=inputs, additional_data=additional_data)

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    def overdue(self, now: datetime) -> bool:
        return not self.terminal and now > parse(self.deadline_at)

    def moved(self, status: str, now: datetime, *, error: str | None = None, outputs: list[Any] | None = None,
              data: dict[str, Any] | None = None) -> "Task":
        """The task in a new status. Raises TerminalTask when it has ended already (terminal statuses stay)."""
        if self.terminal:
            raise TerminalTask(self)
        additional = {**self.additional_data, **(data or {})}
        if error is not None:
            additional["error"] = error
        return replace(self, status=status, updated_at=isoformat(now), error=error if error is not None else self.error,
                       outputs=outputs if outputs is not None else self.outputs, additional_data=additional)

    def to_record(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "version"}

    @classmethod
    def from_record(cls, record: dict[str, Any], version: int) -> "Task":
        known = {f.name for f in fields(cls)} - {"version"}
        return cls(**{key: value for key, value in record.items() if key in known}, version=version)

    def public(self) -> dict[str, Any]:
        """TaskResponse."""
        return {"task_id": self.task_id, "task_type": self.task_type, "status": self.status,
                "inputs": self.inputs, "outputs": self.outputs,
                "additional_data": {**self.additional_data, "namespace_id": self.namespace_id,
                                    "created_at": self.created_at, "updated_at": self.updated_at},
                "error": self.error}


class TerminalTask(Exception):
    def __init__(self, task: Task) -> None:
        super().__init__(f"task {task.task_id} is {task.status}")
        self.task = task
