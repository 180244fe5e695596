"""API: the FastAPI app (functions/openpeek/handlers/api.py, through mangum) on Lambda, behind an API Gateway HTTP API
with stage throttling and JSON access logs."""

from __future__ import annotations

import json

import jsii
from aws_cdk import Aws, CfnOutput, Duration, Stack
from aws_cdk import aws_apigateway as rest_apigateway
from aws_cdk import aws_apigatewayv2 as apigateway
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from stacks.config import EnvironmentConfig
from stacks.functions import (
    SECRETS_WRITE,
    TABLE_READ,
    TABLE_WRITE,
    OpenpeekFunction,
    SharedResources,
    alarm_on_errors,
    log_retention,
    removal_policy,
)

# The Bedrock models the inference registry can call (adapters/inference/bedrock.py).
BEDROCK_MODELS = ("amazon.titan-embed-text-v2:0", "amazon.titan-embed-image-v1")
ACCESS_LOG_FORMAT = {
    "requestId": "$context.requestId",
    "ip": "$context.identity.sourceIp",
    "requestTime": "$context.requestTime",
    "httpMethod": "$context.httpMethod",
    "path": "$context.path",
    "routeKey": "$context.routeKey",
    "status": "$context.status",
    "protocol": "$context.protocol",
    "responseLength": "$context.responseLength",
    "latency": "$context.responseLatency",
    "integrationLatency": "$context.integrationLatency",
    "integrationError": "$context.integrationErrorMessage",
}


@jsii.implements(apigateway.IAccessLogSettings)
class JsonAccessLogs:
    """One JSON line per request (CDK offers the settings only as an interface)."""

    def __init__(self, destination: apigateway.IAccessLogDestination) -> None:
        self._destination = destination

    @property
    def destination(self) -> apigateway.IAccessLogDestination:
        return self._destination

    @property
    def format(self) -> rest_apigateway.AccessLogFormat:
        return rest_apigateway.AccessLogFormat.custom(json.dumps(ACCESS_LOG_FORMAT))


class ApiStack(Stack):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        config: EnvironmentConfig,
        shared: SharedResources,
        event_bus: events.IEventBus,
        state_machine: sfn.IStateMachine,
        alarm_topic: sns.ITopic,
        **kwargs,
    ) -> None:
        super().__init__(scope, id, **kwargs)

        api = OpenpeekFunction(
            self,
            "Api",
            config=config,
            shared=shared,
            handler="openpeek.handlers.api.handler",
            description="openpeek API (FastAPI through mangum)",
            event_bus_name=event_bus.event_bus_name,
            memory_mb=config.api_memory_mb,
            timeout=Duration.seconds(config.api_timeout_s),
            environment={"OPENPEEK_CLUSTER_STATE_MACHINE_ARN": state_machine.state_machine_arn},
        )
        api.allow_table(shared, *TABLE_READ, *TABLE_WRITE, indexes=True)
        api.allow_secrets(config, *SECRETS_WRITE)
        api.allow_objects(shared, "namespaces/*", "s3:GetObject", "s3:PutObject", "s3:DeleteObject")
        api.allow_listing(shared, "namespaces/")
        event_bus.grant_put_events_to(api.function)
        if shared.vector_bucket_arn:  # cold collections: queried, and their lifecycle read, through the API
            from stacks.tiering import allow_cold_vectors

            allow_cold_vectors(api.function, shared.vector_bucket_arn)
        state_machine.grant_start_execution(api.function)
        state_machine.grant_execution(api.function, "states:DescribeExecution", "states:StopExecution")
        api.function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["bedrock:InvokeModel"],
                resources=[
                    f"arn:{Aws.PARTITION}:bedrock:{Aws.REGION}::foundation-model/{model}" for model in BEDROCK_MODELS
                ],
            )
        )
        alarm_on_errors(api, alarm_topic, config)
        self.function = api

        access_logs = logs.LogGroup(
            self,
            "AccessLogs",
            retention=log_retention(config.log_retention_days),
            removal_policy=removal_policy(config),
        )
        self.http_api = apigateway.HttpApi(
            self,
            "HttpApi",
            api_name=config.prefix,
            description=f"openpeek Mixpeek v1 API ({config.name})",
            default_integration=integrations.HttpLambdaIntegration("Lambda", api.function),
            create_default_stage=False,
        )
        self.stage = apigateway.HttpStage(
            self,
            "Stage",
            http_api=self.http_api,
            stage_name="$default",
            auto_deploy=True,
            throttle=apigateway.ThrottleSettings(
                rate_limit=config.api_throttle_rate, burst_limit=config.api_throttle_burst
            ),
            access_log_settings=JsonAccessLogs(apigateway.LogGroupLogDestination(access_logs)),
        )

        CfnOutput(self, "ApiUrl", value=self.stage.url, description="Base URL for the mixpeek SDK (base_url)")
