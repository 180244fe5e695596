"""Wire models of the Cluster triggers API (the SDK's SharedClustersTriggersModels CreateTriggerRequest,
UpdateTriggerRequest, ListTriggersRequest and TriggerHistoryRequest). Shapes only: what a schedule_config must hold
for its trigger type is a rule of domain/cluster_triggers.py."""

from __future__ import annotations

from typing import Any, Literal, Optional

from pydantic import Field, StrictInt, StrictStr

from openpeek.api.models.namespaces import Strict

TriggerType = Literal["cron", "interval", "event", "conditional"]
TriggerStatus = Literal["active", "paused", "disabled", "failed"]
SORTABLE = Literal["created_at", "updated_at", "next_scheduled_at", "last_triggered_at", "trigger_type", "status",
                   "execution_count"]


class TriggerExecutionConfig(Strict):
    collection_ids: list[StrictStr] = Field(min_length=1, max_length=64)
    config: dict[str, Any]


class CreateTriggerRequest(Strict):
    cluster_id: Optional[StrictStr] = Field(default=None, min_length=1, max_length=256)
    execution_config: Optional[TriggerExecutionConfig] = None
    trigger_type: TriggerType
    schedule_config: dict[str, Any]
    description: Optional[StrictStr] = Field(default=None, max_length=4096)
    status: Optional[TriggerStatus] = None


class UpdateTriggerRequest(Strict):
    schedule_config: Optional[dict[str, Any]] = None
    description: Optional[StrictStr] = Field(default=None, max_length=4096)
    status: Optional[TriggerStatus] = None


class ListTriggersRequest(Strict):
    cluster_id: Optional[StrictStr] = Field(default=None, max_length=256)
    trigger_type: Optional[TriggerType] = None
    status: Optional[TriggerStatus] = None
    offset: StrictInt = Field(default=0, ge=0, le=100_000)
    limit: StrictInt = Field(default=50, ge=1, le=1000)
    sort_by: SORTABLE = "created_at"
    direction: Literal["asc", "desc"] = "desc"


class TriggerHistoryRequest(Strict):
    offset: StrictInt = Field(default=0, ge=0, le=100_000)
    limit: StrictInt = Field(default=50, ge=1, le=1000)
    status_filter: Optional[StrictStr] = Field(default=None, max_length=64)
