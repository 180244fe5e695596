"""Tasks on the Table port: `TASK#<id>` in the partition their namespace owns (deleted with it), a `TASKID#<id>`
pointer naming the organisation and namespace, so `GET /v1/tasks/{id}` needs no X-Namespace header, and an entry in
the organisation's task list (`ORGTASKS#<org>`, newest last), which `POST /v1/tasks/list` reads when the caller names
no namespace (the SDK sends none there). Entries whose task went with its namespace are skipped and cleaned up."""

from __future__ import annotations

from dataclasses import replace

from openpeek.domain.tasks import Task
from openpeek.domain.records import Delete, Put
from openpeek.ports import Table
from openpeek.repositories.namespaces import owned_partition


def _pointer_pk(task_id: str) -> str:
    return f"TASKID#{task_id}"


class TaskRepository:
    def __init__(self, table: Table) -> None:
        self._table = table

    def item(self, task: Task) -> dict:
        return {"pk": owned_partition(task.namespace_id), "sk": f"TASK#{task.task_id}", "version": task.version,
                **task.to_record()}

    def creation(self, task: Task, org_id: str) -> list[Put]:
        """The writes that create a task; the caller adds them to its own transaction."""
        pointer = {"pk": _pointer_pk(task.task_id), "sk": "TASK", "org_id": org_id, "namespace_id": task.namespace_id}
        listed = {"pk": f"ORGTASKS#{org_id}", "sk": f"{task.created_at}#{task.task_id}",
                  "namespace_id": task.namespace_id, "task_id": task.task_id}
        return [Put(self.item(task), if_absent=True), Put(pointer, if_absent=True), Put(listed, if_absent=True)]

    def deletion(self, namespace_id: str, task_id: str) -> list[Delete]:
        """The writes that remove a task created a moment ago (the organisation's list skips what is gone)."""
        return [Delete(owned_partition(namespace_id), f"TASK#{task_id}"), Delete(_pointer_pk(task_id), "TASK")]

    def list_for_org(self, org_id: str, limit: int = 1000) -> list[Task]:
        """The organisation's newest tasks, in every namespace."""
        found = []
        for entry in self._table.query(f"ORGTASKS#{org_id}", descending=True, limit=limit):
            task = self.get(entry["namespace_id"], entry["task_id"])
            if task is None:
                self._table.delete(entry["pk"], entry["sk"])  # its namespace is gone
                continue
            found.append(task)
        return found

    def locate(self, task_id: str) -> tuple[str, str] | None:
        """(org_id, namespace_id) of a task."""
        pointer = self._table.get(_pointer_pk(task_id), "TASK")
        return None if pointer is None else (pointer["org_id"], pointer["namespace_id"])

    def get(self, namespace_id: str, task_id: str) -> Task | None:
        item = self._table.get(owned_partition(namespace_id), f"TASK#{task_id}")
        return None if item is None else Task.from_record(item, item["version"])

    def list(self, namespace_id: str) -> list[Task]:
        return [Task.from_record(item, item["version"]) for item in self._table.query(owned_partition(namespace_id), "TASK#")]

    def update(self, task: Task, previous: Task) -> Put:
        """The conditional write that stores `task` over `previous` (ConditionFailed when someone else moved it)."""
        return Put(self.item(replace(task, version=previous.version + 1)), if_version=previous.version)
