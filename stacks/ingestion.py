"""Ingestion: the Step Functions state machine that runs bucket batches, and its Lambda steps.

prepare (writes the batch's manifest parts under namespaces/<id>/batches/) → a Map over the tiers, one at a time
(a collection reads what the tier before it wrote) → in each tier a Map over its manifest parts, several at once, each
part one `extract` Lambda → finalize (counts, events, `documents_resolvable`). A tier whose extractors embed images
(`heavy`) runs each part as stage (a Lambda writes the drafts) → a SageMaker Processing job in the clustering image
(`extract` entrypoint: Titan Multimodal through Bedrock, parquet out) → store (a Lambda writes the documents). A failure anywhere is caught into
mark-failed, which ends the batch FAILED with the step's error; the execution then fails. The state is described in
openpeek.services.ingestion.steps.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Aws, Duration, Stack
from aws_cdk import aws_ecr as ecr
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
BATCH_OBJECTS = "namespaces/*/batches/*"  # a heavy part's job input (drafts) and output (vectors)
PROCESSING_INPUT = "/opt/ml/processing/input"
PROCESSING_OUTPUT = "/opt/ml/processing/output"
# The extraction job calls Bedrock for every draft: a small CPU instance, and a bounded number at once (instance
# quotas and Bedrock's request rate).
EXTRACTION_INSTANCE_TYPE = "ml.m5.large"
EXTRACTION_VOLUME_GB = 30
EXTRACTION_MAX_RUNTIME_S = 6 * 3600
JOBS_AT_ONCE = 4


@dataclass(frozen=True)
class ProcessingImage:
    """The clustering stack's image (its `extract` entrypoint runs heavy extractors) and its repository."""

    image_uri: str
    repository: ecr.IRepository


class IngestionStack(Stack):
    def __init__(self, scope: Construct, id: str, *, config: EnvironmentConfig, shared: SharedResources,
                 event_bus: events.IEventBus, alarm_topic: sns.ITopic, processing_image: ProcessingImage,
                 **kwargs) -> None:
        super().__init__(scope, id, **kwargs)
        job_prefix = f"{config.prefix}-"
        jobs_arn = f"arn:{Aws.PARTITION}:sagemaker:{Aws.REGION}:{Aws.ACCOUNT_ID}:processing-job/{job_prefix}*"

        def step_function(name: str, step: str, description: str, timeout: Duration, memory_mb: int | None = None,
                          environment: dict[str, str] | None = None):
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
                environment=environment or {},
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
        stage = step_function("BatchStage", "stage", "Batch step 2 (heavy tiers): a part's drafts for its job",
                              Duration.minutes(15), memory_mb=3008,
                              environment={"OPENPEEK_PROCESSING_JOB_PREFIX": job_prefix})
        stage.allow_objects(shared, NAMESPACE_OBJECTS, "s3:GetObject", "s3:PutObject", "s3:DeleteObject")
        stage.allow_listing(shared, "namespaces/")
        store = step_function("BatchStore", "store", "Batch step 2 (heavy tiers): a part's documents from its job",
                              Duration.minutes(15), memory_mb=3008)
        store.allow_objects(shared, NAMESPACE_OBJECTS, "s3:GetObject")
        store.allow_listing(shared, "namespaces/")  # the job's vectors files
        self.functions = {"prepare": prepare, "extract": extract, "finalize": finalize, "mark_failed": mark_failed,
                          "stage": stage, "store": store}

        # The extraction job's role: the image, its part's files, Titan through Bedrock, its logs; nothing else.
        self.extraction_role = iam.Role(
            self, "ExtractionJobRole", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description="Batch extraction jobs: the clustering image, a part's drafts and vectors, Titan on Bedrock")
        processing_image.repository.grant_pull(self.extraction_role)
        self.extraction_role.add_to_policy(iam.PolicyStatement(
            actions=["s3:GetObject", "s3:PutObject"], resources=[shared.bucket.arn_for_objects(BATCH_OBJECTS)]))
        self.extraction_role.add_to_policy(iam.PolicyStatement(
            actions=["s3:ListBucket"], resources=[shared.bucket.bucket_arn],
            conditions={"StringLike": {"s3:prefix": ["namespaces/*"]}}))
        self.extraction_role.add_to_policy(_bedrock_invoke())
        self.extraction_role.add_to_policy(iam.PolicyStatement(
            actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            resources=[f"arn:{Aws.PARTITION}:logs:{Aws.REGION}:{Aws.ACCOUNT_ID}:log-group:/aws/sagemaker/"
                       "ProcessingJobs*"]))

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
        stage_step = invoke("Stage", stage, "$.staged", Duration.minutes(15))
        store_step = invoke("Store", store, sfn.JsonPath.DISCARD, Duration.minutes(15))
        process_step = self._extraction_job(processing_image.image_uri)
        heavy_parts = sfn.Map(self, "BatchHeavyParts", state_name="HeavyParts", items_path="$.parts",
                              max_concurrency=JOBS_AT_ONCE, result_path=sfn.JsonPath.DISCARD)
        heavy_parts.item_processor(stage_step.next(process_step).next(store_step))
        tier_kind = sfn.Choice(self, "BatchTierKind", state_name="TierKind").when(
            sfn.Condition.and_(sfn.Condition.is_present("$.heavy"), sfn.Condition.boolean_equals("$.heavy", True)),
            heavy_parts).otherwise(parts)
        tiers = sfn.Map(self, "BatchTiers", state_name="Tiers", items_path="$.prepared.tiers", max_concurrency=1,
                        result_path=sfn.JsonPath.DISCARD)
        tiers.item_processor(tier_kind)
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
        role = self.state_machine.role
        role.add_to_principal_policy(iam.PolicyStatement(
            actions=["sagemaker:CreateProcessingJob", "sagemaker:DescribeProcessingJob",
                     "sagemaker:StopProcessingJob", "sagemaker:AddTags", "sagemaker:ListTags"],
            resources=[jobs_arn]))
        role.add_to_principal_policy(iam.PolicyStatement(
            actions=["iam:PassRole"], resources=[self.extraction_role.role_arn],
            conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}))
        role.add_to_principal_policy(iam.PolicyStatement(
            # The managed rule through which `.sync` learns that the job ended.
            actions=["events:PutTargets", "events:PutRule", "events:DescribeRule"],
            resources=[f"arn:{Aws.PARTITION}:events:{Aws.REGION}:{Aws.ACCOUNT_ID}:rule/"
                       "StepFunctionsGetEventsForSageMakerProcessingJobsRule"]))

    def _extraction_job(self, image_uri: str) -> sfn.CustomState:
        """The SageMaker Processing job of a heavy part (the clustering stack's `.sync` integration, written out):
        the stage step's drafts in, vectors and failures out."""
        step = sfn.CustomState(self, "BatchProcess", state_json={
            "Type": "Task",
            "Resource": f"arn:{Aws.PARTITION}:states:::sagemaker:createProcessingJob.sync",
            "Parameters": {
                "ProcessingJobName.$": "$.staged.job_name",
                "RoleArn": self.extraction_role.role_arn,
                "AppSpecification": {
                    "ImageUri": image_uri,
                    "ContainerEntrypoint": ["python", "/opt/openpeek/entrypoint.py"],
                    "ContainerArguments": ["extract", "--input", PROCESSING_INPUT, "--output", PROCESSING_OUTPUT],
                },
                "Environment": {"OPENPEEK_BEDROCK_REGION": Aws.REGION},
                "ProcessingInputs": [{"InputName": "drafts", "S3Input": {
                    "S3Uri.$": "$.staged.input_uri", "LocalPath": PROCESSING_INPUT, "S3DataType": "S3Prefix",
                    "S3InputMode": "File"}}],
                "ProcessingOutputConfig": {"Outputs": [{"OutputName": "vectors", "S3Output": {
                    "S3Uri.$": "$.staged.output_uri", "LocalPath": PROCESSING_OUTPUT,
                    "S3UploadMode": "EndOfJob"}}]},
                "ProcessingResources": {"ClusterConfig": {"InstanceCount": 1,
                                                          "InstanceType": EXTRACTION_INSTANCE_TYPE,
                                                          "VolumeSizeInGB": EXTRACTION_VOLUME_GB}},
                "StoppingCondition": {"MaxRuntimeInSeconds": EXTRACTION_MAX_RUNTIME_S},
            },
            "ResultSelector": {"job_name.$": "$.ProcessingJobName", "status.$": "$.ProcessingJobStatus"},
            "ResultPath": "$.job",
            "TimeoutSeconds": EXTRACTION_MAX_RUNTIME_S + 600,
        })
        # A refused CreateProcessingJob (quota, throttling) left no job behind; a job that ran and failed is not
        # retried here (the batch's `retry` runs its objects again).
        step.add_retry(errors=["SageMaker.AmazonSageMakerException"], interval=Duration.seconds(60),
                       max_attempts=3, backoff_rate=2.0)
        return step


def _bedrock_invoke() -> iam.PolicyStatement:
    """Titan (text and multimodal) where a collection's extractor embeds through Bedrock: the API's models only."""
    return iam.PolicyStatement(
        actions=["bedrock:InvokeModel"],
        resources=[f"arn:{Aws.PARTITION}:bedrock:{Aws.REGION}::foundation-model/{model}" for model in BEDROCK_MODELS])
