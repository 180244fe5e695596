"""Ingestion: the Step Functions state machine that runs bucket batches, and its Lambda steps.

prepare (writes the batch's manifest parts under namespaces/<id>/batches/) → a Map over the tiers, one at a time
(a collection reads what the tier before it wrote) → in each tier a Map over its manifest parts, several at once, each
part one `extract` Lambda → finalize (counts, events, `documents_resolvable`). A failure anywhere is caught into
mark-failed, which ends the batch FAILED with the step's error; the execution then fails. The state is described in
openpeek.services.ingestion.steps.
"""

from __future__ import annotations

from aws_cdk import Aws, Duration, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from stacks.api import BEDROCK_MODELS
from stacks.config import EnvironmentConfig
from stacks.functions import (
    TABLE_READ,
    TABLE_WRITE,
    OpenpeekFunction,
    SharedResources,
    alarm_on_errors,
    log_retention,
    removal_policy,
)

NAMESPACE_OBJECTS = "namespaces/*"  # objects' blobs (read), the batch manifests (written), both under the namespace
PARTS_AT_ONCE = 8  # extract Lambdas per tier in parallel: bounded, so the vector store and Bedrock are not flooded
STEP_RETRY = dict(
    errors=["DependencyUnavailable", "Lambda.TooManyRequestsException", "Lambda.ServiceException"],
    interval=Duration.seconds(5),
    max_attempts=3,
    backoff_rate=2.0,
)
MAX_RUNTIME = Duration.hours(24)


class IngestionStack(Stack):
    def __init__(self, scope: Construct, id: str, *, config: EnvironmentConfig, shared: SharedResources,
                 event_bus: events.IEventBus, alarm_topic: sns.ITopic, **kwargs) -> None:
        super().__init__(scope, id, **kwargs)

        def step_function(name: str, step: str, description: str, timeout: Duration, memory_mb: int | None = None):
            function = OpenpeekFunction(
                self,
                name,
                config=config,
                shared=shared,
                handler=f"openpeek.handlers.batch_{step}.handler",
                description=description,
                event_bus_name=event_bus.event_bus_name,
                timeout=timeout,
                memory_mb=memory_mb,
                in_vpc=True,  # the vector store is in the VPC
                extras=("steps",),  # pyarrow (parquet rows), pypdf (PDF text)
            )
            function.allow_table(shared, *TABLE_READ, *TABLE_WRITE)
            event_bus.grant_put_events_to(function.function)
            alarm_on_errors(function, alarm_topic, config)
            return function

        # Construct ids carry "Batch": logical ids must not repeat the clustering stack's (tests merge templates).
        prepare = step_function("BatchPrepare", "prepare", "Batch step 1: the manifest parts", Duration.minutes(5))
        prepare.allow_objects(shared, NAMESPACE_OBJECTS, "s3:PutObject")
        extract = step_function("BatchExtract", "extract", "Batch step 2: one manifest part through the extractors",
                                Duration.minutes(15), memory_mb=3008)
        extract.allow_objects(shared, NAMESPACE_OBJECTS, "s3:GetObject")
        extract.function.add_to_role_policy(_bedrock_invoke())
        finalize = step_function("BatchFinalize", "finalize", "Batch step 3: counts, events, resolvability",
                                 Duration.minutes(5))
        finalize.allow_objects(shared, NAMESPACE_OBJECTS, "s3:DeleteObject")
        finalize.allow_listing(shared, "namespaces/")
        mark_failed = step_function("BatchMarkFailed", "mark_failed", "Batch failure: the batch becomes FAILED",
                                    Duration.minutes(5))
        self.functions = {"prepare": prepare, "extract": extract, "finalize": finalize, "mark_failed": mark_failed}

        def invoke(name: str, function: OpenpeekFunction, result_path: str | None, timeout: Duration,
                   payload: sfn.TaskInput | None = None) -> tasks.LambdaInvoke:
            step = tasks.LambdaInvoke(self, f"Batch{name}Step", state_name=name, lambda_function=function.function,
                                      payload_response_only=True, result_path=result_path, payload=payload,
                                      task_timeout=sfn.Timeout.duration(timeout))
            step.add_retry(**STEP_RETRY)
            return step

        failed = sfn.Fail(self, "BatchFailed", cause="a batch step failed; the batch holds the error")
        mark_failed_step = invoke("MarkFailed", mark_failed, "$.marked", Duration.minutes(5))
        mark_failed_step.next(failed)

        prepare_step = invoke("Prepare", prepare, "$.prepared", Duration.minutes(5))
        extract_step = invoke("Extract", extract, sfn.JsonPath.DISCARD, Duration.minutes(15))
        parts = sfn.Map(self, "BatchParts", state_name="Parts", items_path="$.parts", max_concurrency=PARTS_AT_ONCE,
                        result_path=sfn.JsonPath.DISCARD)
        parts.item_processor(extract_step)
        tiers = sfn.Map(self, "BatchTiers", state_name="Tiers", items_path="$.prepared.tiers", max_concurrency=1,
                        result_path=sfn.JsonPath.DISCARD)
        tiers.item_processor(parts)
        finalize_step = invoke("Finalize", finalize, "$.finalized", Duration.minutes(5),
                               payload=sfn.TaskInput.from_object({
                                   "namespace_id": sfn.JsonPath.string_at("$.namespace_id"),
                                   "batch_id": sfn.JsonPath.string_at("$.batch_id"),
                                   "attempt": sfn.JsonPath.number_at("$.attempt")}))
        for step in (prepare_step, tiers, finalize_step):
            step.add_catch(mark_failed_step, errors=["States.ALL"], result_path="$.error")

        self.state_machine = sfn.StateMachine(
            self,
            "BatchStateMachine",
            state_machine_name=f"{config.prefix}-batches",
            definition_body=sfn.DefinitionBody.from_chainable(prepare_step.next(tiers).next(finalize_step)),
            timeout=MAX_RUNTIME,
            tracing_enabled=True,
            logs=sfn.LogOptions(
                destination=logs.LogGroup(self, "BatchStateMachineLogs",
                                          retention=log_retention(config.log_retention_days),
                                          removal_policy=removal_policy(config)),
                level=sfn.LogLevel.ERROR,
            ),
        )


def _bedrock_invoke() -> iam.PolicyStatement:
    """Titan (text and multimodal) where a collection's extractor embeds through Bedrock: the API's models only."""
    return iam.PolicyStatement(
        actions=["bedrock:InvokeModel"],
        resources=[f"arn:{Aws.PARTITION}:bedrock:{Aws.REGION}::foundation-model/{model}" for model in BEDROCK_MODELS])
