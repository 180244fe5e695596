"""Clustering: the containers/clustering image (an ECR asset), the SageMaker execution role, and the Step Functions
state machine prepare → SageMaker Processing job (.sync) → finalize, with mark-failed on any error.

The state, step by step (the contract of the cluster step handlers; handlers/step_functions.py parses it):
- input: ClusterJob.state(): the ids of the organisation, namespace, cluster, execution (run) and task, and the kind;
- prepare returns `job_name` (begins with OPENPEEK_PROCESSING_JOB_PREFIX, at most 63 of [a-zA-Z0-9-]), `input_uri` and
  `output_uri` (s3:// prefixes under `namespaces/<namespace_id>/clusters/`), stored at `$.prepared`;
- the job reads `input_uri` at /opt/ml/processing/input and writes /opt/ml/processing/output to `output_uri`; its
  name, ARN and status are stored at `$.job`;
- finalize receives the whole state; on any failure mark-failed receives the state with `$.error` ({Error, Cause}),
  and the execution ends failed.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Aws, CfnOutput, Duration, IgnoreMode, Stack, Token
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from stacks.config import EnvironmentConfig, clustering_base_image, clustering_image_variant
from stacks.functions import (
    TABLE_READ,
    TABLE_WRITE,
    OpenpeekFunction,
    SharedResources,
    alarm_on_errors,
    log_retention,
    removal_policy,
)

CLUSTER_OBJECTS = "namespaces/*/clusters/*"
PROCESSING_INPUT = "/opt/ml/processing/input"
PROCESSING_OUTPUT = "/opt/ml/processing/output"
# The image's build context is the repository root (it installs the package); only what the image needs goes in.
IMAGE_CONTEXT = [
    "*",
    "!pyproject.toml",
    "!README.md",
    "!functions",
    "!containers/clustering",
    "**/__pycache__",
    "**/*.egg-info",
]
# DependencyUnavailable: the port exception a step raises when a store is briefly unreachable (its Lambda errorType).
STEP_RETRY = dict(
    errors=["DependencyUnavailable", "Lambda.TooManyRequestsException"],
    interval=Duration.seconds(5),
    max_attempts=3,
    backoff_rate=2.0,
)


class ClusteringStack(Stack):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        config: EnvironmentConfig,
        shared: SharedResources,
        event_bus: events.IEventBus,
        alarm_topic: sns.ITopic,
        project_root: Path,
        **kwargs,
    ) -> None:
        super().__init__(scope, id, **kwargs)
        job_prefix = f"{config.prefix}-"
        jobs_arn = f"arn:{Aws.PARTITION}:sagemaker:{Aws.REGION}:{Aws.ACCOUNT_ID}:processing-job/{job_prefix}*"

        self.image = None if config.clustering_image_uri else ecr_assets.DockerImageAsset(
            self,
            "Image",
            directory=str(project_root),
            file="containers/clustering/Dockerfile",
            platform=ecr_assets.Platform.LINUX_AMD64,  # SageMaker Processing instances are x86_64
            exclude=IMAGE_CONTEXT,
            ignore_mode=IgnoreMode.DOCKER,
            build_args={"BASE_IMAGE": config.clustering_base_image or clustering_base_image(
                None if Token.is_unresolved(self.region) else self.region, config.clustering_instance_type),
                **clustering_image_variant(config.clustering_instance_type)},
        )

        self.sagemaker_role = iam.Role(
            self,
            "SageMakerExecutionRole",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description="The clustering processing job: its image, its cluster inputs and outputs, its logs",
        )
        if self.image is not None:
            self.image_repository: ecr.IRepository = self.image.repository
            image_uri = self.image.image_uri
        else:  # pushed by `openpeek image build-push`
            image_uri = config.clustering_image_uri
            self.image_repository = ecr.Repository.from_repository_attributes(
                self, "PushedImageRepository", repository_arn=_repository_arn(image_uri),
                repository_name=_repository_name(image_uri))
        self.image_repository.grant_pull(self.sagemaker_role)
        # The batch state machine runs heavy extractors in the same image (its `extract` entrypoint).
        self.image_uri = image_uri
        self.sagemaker_role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject", "s3:PutObject"], resources=[shared.bucket.arn_for_objects(CLUSTER_OBJECTS)]
            )
        )
        self.sagemaker_role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:ListBucket"],
                resources=[shared.bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": ["namespaces/*"]}},
            )
        )
        self.sagemaker_role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[
                    f"arn:{Aws.PARTITION}:logs:{Aws.REGION}:{Aws.ACCOUNT_ID}:log-group:/aws/sagemaker/ProcessingJobs*"
                ],
            )
        )

        def step_function(name: str, handler: str, description: str, in_vpc: bool, extras: tuple[str, ...] = (),
                          **environment: str):
            return OpenpeekFunction(
                self,
                name,
                config=config,
                shared=shared,
                handler=handler,
                description=description,
                event_bus_name=event_bus.event_bus_name,
                timeout=Duration.minutes(5),
                in_vpc=in_vpc,
                environment=environment,
                extras=extras,
            )

        prepare = step_function(
            "Prepare",
            "openpeek.handlers.cluster_prepare.handler",
            "Cluster step 1: selected vectors into parquet",
            True,
            ("steps",),
            OPENPEEK_PROCESSING_JOB_PREFIX=job_prefix,
        )
        prepare.allow_table(shared, *TABLE_READ, *TABLE_WRITE)
        # Writes the run's input; reads earlier runs' centroids (assign, composite) and the run's own input (the
        # deferred map); clears what a failed attempt left before writing again.
        prepare.allow_objects(shared, CLUSTER_OBJECTS, "s3:PutObject", "s3:GetObject", "s3:DeleteObject")
        prepare.allow_listing(shared, "namespaces/")
        finalize = step_function(
            "Finalize", "openpeek.handlers.cluster_finalize.handler", "Cluster step 3: record the results", True,
            ("steps",),
        )
        finalize.allow_table(shared, *TABLE_READ, *TABLE_WRITE)
        finalize.allow_objects(shared, CLUSTER_OBJECTS, "s3:GetObject", "s3:PutObject")
        finalize.allow_listing(shared, "namespaces/")
        mark_failed = step_function(
            "MarkFailed",
            "openpeek.handlers.cluster_mark_failed.handler",
            "Cluster failure: the task and execution become FAILED",
            False,  # table and events only
        )
        mark_failed.allow_table(shared, *TABLE_READ, *TABLE_WRITE)
        for function in (prepare, finalize, mark_failed):
            event_bus.grant_put_events_to(function.function)
        self.functions = {"prepare": prepare, "finalize": finalize, "mark_failed": mark_failed}
        for function in self.functions.values():
            alarm_on_errors(function, alarm_topic, config)

        failed = sfn.Fail(self, "ClusteringFailed", cause="a clustering step failed; the task holds the error")
        mark_failed_step = tasks.LambdaInvoke(
            self,
            "MarkFailedStep",
            state_name="MarkFailed",
            lambda_function=mark_failed.function,
            payload_response_only=True,
            result_path="$.marked",
            task_timeout=sfn.Timeout.duration(Duration.minutes(5)),
        )
        mark_failed_step.add_retry(**STEP_RETRY)
        mark_failed_step.next(failed)

        prepare_step = tasks.LambdaInvoke(
            self,
            "PrepareStep",
            state_name="Prepare",
            lambda_function=prepare.function,
            payload_response_only=True,
            result_path="$.prepared",
            task_timeout=sfn.Timeout.duration(Duration.minutes(5)),
        )
        process_step = sfn.CustomState(
            self,
            "Process",
            # No SageMakerCreateProcessingJob task in CDK: the service integration written out, with `.sync` so the
            # state waits for the job to end (Step Functions polls it through an EventBridge rule of its own).
            state_json={
                "Type": "Task",
                "Resource": f"arn:{Aws.PARTITION}:states:::sagemaker:createProcessingJob.sync",
                "Parameters": {
                    "ProcessingJobName.$": "$.prepared.job_name",
                    "RoleArn": self.sagemaker_role.role_arn,
                    "AppSpecification": {
                        "ImageUri": image_uri,
                        "ContainerEntrypoint": ["python", "/opt/openpeek/entrypoint.py"],
                        "ContainerArguments": ["--input", PROCESSING_INPUT, "--output", PROCESSING_OUTPUT],
                    },
                    "ProcessingInputs": [
                        {
                            "InputName": "vectors",
                            "S3Input": {
                                "S3Uri.$": "$.prepared.input_uri",
                                "LocalPath": PROCESSING_INPUT,
                                "S3DataType": "S3Prefix",
                                "S3InputMode": "File",
                            },
                        }
                    ],
                    "ProcessingOutputConfig": {
                        "Outputs": [
                            {
                                "OutputName": "results",
                                "S3Output": {
                                    "S3Uri.$": "$.prepared.output_uri",
                                    "LocalPath": PROCESSING_OUTPUT,
                                    "S3UploadMode": "EndOfJob",
                                },
                            }
                        ]
                    },
                    "ProcessingResources": {
                        "ClusterConfig": {
                            "InstanceCount": 1,
                            "InstanceType": config.clustering_instance_type,
                            "VolumeSizeInGB": config.clustering_volume_gb,
                        }
                    },
                    "StoppingCondition": {"MaxRuntimeInSeconds": config.clustering_max_runtime_s},
                },
                "ResultSelector": {
                    "job_name.$": "$.ProcessingJobName",
                    "job_arn.$": "$.ProcessingJobArn",
                    "status.$": "$.ProcessingJobStatus",
                },
                "ResultPath": "$.job",
                # SageMaker stops the job at MaxRuntimeInSeconds; the state gives it ten more minutes to report.
                "TimeoutSeconds": config.clustering_max_runtime_s + 600,
            },
        )
        # A refused CreateProcessingJob (instance quota, throttling) left no job behind, so the same name may be
        # tried again; a job that ran and failed raises States.TaskFailed, which is not retried: the engine is
        # deterministic and would fail the same way.
        process_step.add_retry(
            errors=["SageMaker.AmazonSageMakerException"],
            interval=Duration.seconds(60),
            max_attempts=3,
            backoff_rate=2.0,
        )
        finalize_step = tasks.LambdaInvoke(
            self,
            "FinalizeStep",
            state_name="Finalize",
            lambda_function=finalize.function,
            payload_response_only=True,
            result_path="$.finalized",
            task_timeout=sfn.Timeout.duration(Duration.minutes(5)),
        )
        for step in (prepare_step, finalize_step):
            step.add_retry(**STEP_RETRY)
        for step in (prepare_step, process_step, finalize_step):
            step.add_catch(mark_failed_step, errors=["States.ALL"], result_path="$.error")

        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            state_machine_name=f"{config.prefix}-clustering",
            definition_body=sfn.DefinitionBody.from_chainable(prepare_step.next(process_step).next(finalize_step)),
            timeout=Duration.seconds(config.clustering_max_runtime_s + 3600),
            tracing_enabled=True,
            logs=sfn.LogOptions(
                destination=logs.LogGroup(
                    self,
                    "StateMachineLogs",
                    retention=log_retention(config.log_retention_days),
                    removal_policy=removal_policy(config),
                ),
                level=sfn.LogLevel.ERROR,
            ),
        )
        role = self.state_machine.role
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=[
                    "sagemaker:CreateProcessingJob",
                    "sagemaker:DescribeProcessingJob",
                    "sagemaker:StopProcessingJob",
                    "sagemaker:AddTags",
                    "sagemaker:ListTags",
                ],
                resources=[jobs_arn],
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["iam:PassRole"],
                resources=[self.sagemaker_role.role_arn],
                conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                # The managed rule through which `.sync` learns that the job ended.
                actions=["events:PutTargets", "events:PutRule", "events:DescribeRule"],
                resources=[
                    f"arn:{Aws.PARTITION}:events:{Aws.REGION}:{Aws.ACCOUNT_ID}:rule/"
                    "StepFunctionsGetEventsForSageMakerProcessingJobsRule"
                ],
            )
        )

        # -- cluster triggers: every minute, the due ones start their cluster's execution on this state machine ---
        # Here rather than in the automation stack: it needs the state machine, and this stack already depends on
        # the automation stack (its bus and alarm topic), so a reference the other way would be a cycle.
        triggers = OpenpeekFunction(
            self,
            "ClusterTriggers",
            config=config,
            shared=shared,
            handler="openpeek.handlers.cluster_triggers.handler",
            description="Fires due cluster triggers (cron, interval, documents added): starts their executions",
            event_bus_name=event_bus.event_bus_name,
            timeout=Duration.minutes(5),
            in_vpc=True,  # event triggers count the namespace's documents in Qdrant
            environment={"OPENPEEK_CLUSTER_STATE_MACHINE_ARN": self.state_machine.state_machine_arn},
        )
        triggers.allow_table(shared, *TABLE_READ, *TABLE_WRITE, indexes=True)  # the due triggers' index
        self.state_machine.grant_start_execution(triggers.function)
        alarm_on_errors(triggers, alarm_topic, config)
        self.functions["cluster_triggers"] = triggers
        events.Rule(
            self,
            "ClusterTriggersSchedule",
            description="Cluster triggers, every minute: fires the due ones",
            schedule=events.Schedule.rate(Duration.minutes(1)),
            targets=[targets.LambdaFunction(triggers.function, retry_attempts=2)],
        )

        CfnOutput(self, "StateMachineArn", value=self.state_machine.state_machine_arn)
        CfnOutput(self, "ClusteringImageUri", value=image_uri)


def _repository_name(image_uri: str) -> str:
    """<account>.dkr.ecr.<region>.amazonaws.com/<name>[:tag|@digest] → <name>."""
    return image_uri.partition("/")[2].split("@", 1)[0].rsplit(":", 1)[0]


def _repository_arn(image_uri: str) -> str:
    account, _, _, region = image_uri.partition("/")[0].split(".")[:4]
    return f"arn:{Aws.PARTITION}:ecr:{region}:{account}:repository/{_repository_name(image_uri)}"
