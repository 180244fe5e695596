"""The shape every openpeek Lambda shares: Python 3.12 on the configured architecture, the packaged code, its own log
group with the environment's retention, X-Ray tracing, Powertools settings and the OPENPEEK_* settings that choose the
aws runtime (functions/openpeek/settings.py names them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

from aws_cdk import Aws, Duration, RemovalPolicy
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from constructs import Construct

from stacks.config import EnvironmentConfig

# Table actions by need. The adapter (adapters/aws/dynamodb_table.py) calls GetItem, PutItem, DeleteItem, Query and
# TransactWriteItems; a transaction is authorised per item as PutItem / DeleteItem / ConditionCheckItem.
TABLE_READ = ("dynamodb:GetItem", "dynamodb:Query")
TABLE_WRITE = ("dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:ConditionCheckItem")
# The namespaces' and webhooks' secrets (adapters/aws/secrets.py SecretsManagerStore), all named
# openpeek/<environment>/...: every function reads them with the records that name them, the API writes them, the
# API and the reaper delete them with their namespace or webhook.
SECRETS_READ = ("secretsmanager:GetSecretValue",)
SECRETS_WRITE = ("secretsmanager:CreateSecret", "secretsmanager:PutSecretValue", "secretsmanager:DeleteSecret")


@dataclass(frozen=True)
class SharedResources:
    """What the functions of every stack are given: the data stack's table and bucket, the vectors stack's network."""

    table: dynamodb.ITable
    table_indexes: Sequence[str]
    bucket: s3.IBucket
    vpc: ec2.IVpc
    functions_security_group: ec2.ISecurityGroup
    qdrant_url: str
    qdrant_api_key: secretsmanager.ISecret
    code: Callable[..., lambda_.Code]
    """A new Code per function (optionally with package extras): CDK binds a Code to one stack, and bundles identical
    ones only once."""
    vector_bucket_name: str | None = None
    vector_bucket_arn: str | None = None
    """The S3 Vectors bucket of cold collections (stacks/tiering.py); functions that read or move them get its name."""


def removal_policy(config: EnvironmentConfig) -> RemovalPolicy:
    return RemovalPolicy.RETAIN if config.retain_data else RemovalPolicy.DESTROY


class OpenpeekFunction(Construct):
    """One Lambda entry point of functions/openpeek/handlers. `in_vpc` for those that talk to Qdrant (its security
    group admits only the functions' group); the others stay outside, where they reach AWS APIs and webhook receivers
    without the NAT gateway."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        config: EnvironmentConfig,
        shared: SharedResources,
        handler: str,
        description: str,
        event_bus_name: str,
        memory_mb: int | None = None,
        timeout: Duration = Duration.minutes(1),
        in_vpc: bool = True,
        environment: Mapping[str, str] | None = None,
        extras: Sequence[str] = (),
    ) -> None:
        super().__init__(scope, id)
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            retention=log_retention(config.log_retention_days),
            removal_policy=removal_policy(config),
        )
        settings = {
            "OPENPEEK_RUNTIME": "aws",
            "OPENPEEK_TABLE_NAME": shared.table.table_name,
            "OPENPEEK_BUCKET_NAME": shared.bucket.bucket_name,
            "OPENPEEK_QDRANT_URL": shared.qdrant_url,
            "OPENPEEK_EVENT_BUS_NAME": event_bus_name,
            "OPENPEEK_LOG_LEVEL": config.log_level,
            "OPENPEEK_ENVIRONMENT_NAME": config.name,
            "POWERTOOLS_SERVICE_NAME": "openpeek",
            "POWERTOOLS_LOG_LEVEL": config.log_level,
            "POWERTOOLS_METRICS_NAMESPACE": f"openpeek/{config.name}",
        }
        if shared.vector_bucket_name:
            settings["OPENPEEK_VECTOR_BUCKET_NAME"] = shared.vector_bucket_name
        if in_vpc:
            # Only functions that can reach Qdrant get its key; the others never read the secret.
            settings["OPENPEEK_QDRANT_API_KEY_SECRET_ARN"] = shared.qdrant_api_key.secret_arn
        self.function = lambda_.Function(
            self,
            "Function",
            runtime=lambda_.Runtime.PYTHON_3_12,
            architecture=(
                lambda_.Architecture.ARM_64 if config.lambda_architecture == "arm64" else lambda_.Architecture.X86_64
            ),
            code=shared.code(tuple(extras)),
            handler=handler,
            description=description,
            memory_size=memory_mb or config.worker_memory_mb,
            timeout=timeout,
            tracing=lambda_.Tracing.ACTIVE,
            log_group=self.log_group,
            environment={**settings, **(environment or {})},
            vpc=shared.vpc if in_vpc else None,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS) if in_vpc else None,
            security_groups=[shared.functions_security_group] if in_vpc else None,
        )
        if in_vpc:
            shared.qdrant_api_key.grant_read(self.function)
        self.allow_secrets(config, *SECRETS_READ)

    # -- least-privilege grants -------------------------------------------------------------------------------------

    def allow_table(self, shared: SharedResources, *actions: str, indexes: bool = False) -> None:
        resources = [shared.table.table_arn]
        if indexes:
            resources += [f"{shared.table.table_arn}/index/{name}" for name in shared.table_indexes]
        self.function.add_to_role_policy(iam.PolicyStatement(actions=sorted(set(actions)), resources=resources))

    def allow_secrets(self, config: EnvironmentConfig, *actions: str) -> None:
        """Secrets Manager actions on this environment's namespace and webhook secrets only."""
        self.function.add_to_role_policy(iam.PolicyStatement(actions=sorted(set(actions)), resources=[
            f"arn:{Aws.PARTITION}:secretsmanager:{Aws.REGION}:{Aws.ACCOUNT_ID}:secret:openpeek/{config.name}/*"]))

    def allow_objects(self, shared: SharedResources, key_pattern: str, *actions: str) -> None:
        """Object actions on keys matching key_pattern only (e.g. `namespaces/*`)."""
        self.function.add_to_role_policy(
            iam.PolicyStatement(actions=sorted(set(actions)), resources=[shared.bucket.arn_for_objects(key_pattern)])
        )

    def allow_listing(self, shared: SharedResources, key_prefix: str) -> None:
        """ListBucket is a bucket-level action: the s3:prefix condition confines it to one prefix."""
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:ListBucket"],
                resources=[shared.bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [f"{key_prefix}*"]}},
            )
        )


_RETENTIONS = {
    1: logs.RetentionDays.ONE_DAY,
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    90: logs.RetentionDays.THREE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
}


def log_retention(days: int) -> logs.RetentionDays:
    try:
        return _RETENTIONS[days]
    except KeyError:
        raise ValueError(f"log retention must be one of {sorted(_RETENTIONS)} days, got {days}") from None


def alarm_on_errors(function: OpenpeekFunction, topic: sns.ITopic, config: EnvironmentConfig) -> cloudwatch.Alarm:
    """Each stack alarms on its own functions (a central alarm stack would depend on every stack that depends on it)."""
    alarm = function.function.metric_errors(period=Duration.minutes(5), statistic="Sum").create_alarm(
        function,
        "ErrorsAlarm",
        threshold=config.alarm_function_errors,
        evaluation_periods=1,
        comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        alarm_description=f"{function.node.path}: {config.alarm_function_errors}+ errors in 5 minutes",
    )
    alarm.add_alarm_action(cloudwatch_actions.SnsAction(topic))
    return alarm
