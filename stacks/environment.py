"""One environment's stack set, joined by explicit references. The order is the dependency order: data and vectors
first; automation owns the event bus every function publishes to; clustering's state machine is started by the API."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aws_cdk import Environment, Stack, Tags
from constructs import Construct

from stacks.api import ApiStack
from stacks.automation import AutomationStack
from stacks.clustering import ClusteringStack
from stacks.ingestion import IngestionStack, ProcessingImage
from stacks.config import EnvironmentConfig
from stacks.data import DataStack
from stacks.functions import SharedResources
from stacks.packaging import lambda_code
from stacks.vectors import VectorsStack


@dataclass(frozen=True)
class EnvironmentStacks:
    data: DataStack
    vectors: VectorsStack
    automation: AutomationStack
    clustering: ClusteringStack
    api: ApiStack
    ingestion: IngestionStack | None = None  # bucket batches' state machine

    def all(self) -> list[Stack]:
        return [self.data, self.vectors, self.automation, self.clustering, self.api] + (
            [self.ingestion] if self.ingestion is not None else [])


def build_environment(
    scope: Construct, config: EnvironmentConfig, project_root: Path, env: Environment | None = None
) -> EnvironmentStacks:
    def name(concern: str) -> str:
        return f"{config.prefix}-{concern}"

    data = DataStack(scope, name("data"), config=config, env=env)
    vectors = VectorsStack(scope, name("vectors"), config=config, env=env)
    shared = SharedResources(
        table=data.table,
        table_indexes=data.table_indexes,
        bucket=data.bucket,
        vpc=vectors.vpc,
        functions_security_group=vectors.functions_security_group,
        qdrant_url=vectors.qdrant_url,
        qdrant_api_key=vectors.qdrant_api_key,
        # One bundle without the clustering and model extras for every function; the cluster steps add `steps`
        # (pyarrow, for the job's parquet files), which the API's bundle never carries.
        code=lambda extras=(): lambda_code(project_root, config, extras),
        vector_bucket_name=data.vector_bucket_name,
        vector_bucket_arn=data.vector_bucket.attr_vector_bucket_arn,
    )
    automation = AutomationStack(scope, name("automation"), config=config, shared=shared, env=env)
    clustering = ClusteringStack(
        scope,
        name("clustering"),
        config=config,
        shared=shared,
        event_bus=automation.event_bus,
        alarm_topic=automation.alarm_topic,
        project_root=project_root,
        env=env,
    )
    ingestion = IngestionStack(scope, name("ingestion"), config=config, shared=shared, event_bus=automation.event_bus,
                               alarm_topic=automation.alarm_topic, env=env,
                               processing_image=ProcessingImage(clustering.image_uri, clustering.image_repository))
    api = ApiStack(
        scope,
        name("api"),
        config=config,
        shared=shared,
        event_bus=automation.event_bus,
        state_machine=clustering.state_machine,
        alarm_topic=automation.alarm_topic,
        env=env,
    )
    # The API starts batches on the ingestion state machine (and reads and stops their executions).
    api.function.function.add_environment("OPENPEEK_BATCH_STATE_MACHINE_ARN", ingestion.state_machine.state_machine_arn)
    ingestion.state_machine.grant_start_execution(api.function.function)
    stacks = EnvironmentStacks(data, vectors, automation, clustering, api, ingestion)
    for stack in stacks.all():
        Tags.of(stack).add("project", "openpeek")
        Tags.of(stack).add("environment", config.name)
    return stacks
