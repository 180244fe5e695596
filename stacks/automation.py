"""Automation: the environment's EventBridge bus (the services publish their domain events there), the schedules of the
TTL reaper (hourly) and the auto-indexer (6-hourly), the webhook delivery path (rule → SQS queue with a dead-letter
queue → delivery Lambda), and the alarm topic with alarms on these functions and on the dead-letter queue."""

from __future__ import annotations

from aws_cdk import CfnOutput, Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.config import EnvironmentConfig
from stacks.functions import SECRETS_WRITE, TABLE_READ, TABLE_WRITE, OpenpeekFunction, SharedResources, alarm_on_errors

EVENT_SOURCE = "openpeek"  # adapters/aws/eventbridge_bus.py's Source
WEBHOOK_DELIVERY_TIMEOUT = Duration.minutes(1)


class AutomationStack(Stack):
    def __init__(self, scope: Construct, id: str, *, config: EnvironmentConfig, shared: SharedResources, **kwargs):
        super().__init__(scope, id, **kwargs)

        self.event_bus = events.EventBus(self, "Bus", event_bus_name=config.prefix)
        self.alarm_topic = sns.Topic(self, "Alarms", display_name=f"{config.prefix} alarms", enforce_ssl=True)
        if config.alarm_email:
            self.alarm_topic.add_subscription(subscriptions.EmailSubscription(config.alarm_email))

        def function(name: str, handler: str, description: str, in_vpc: bool, timeout: Duration) -> OpenpeekFunction:
            created = OpenpeekFunction(
                self,
                name,
                config=config,
                shared=shared,
                handler=handler,
                description=description,
                event_bus_name=self.event_bus.event_bus_name,
                timeout=timeout,
                in_vpc=in_vpc,
            )
            self.event_bus.grant_put_events_to(created.function)
            alarm_on_errors(created, self.alarm_topic, config)
            return created

        # -- TTL reaper: deletes namespaces (vector collection, owned items, blobs, record) -------------------------
        reaper = function(
            "Reaper",
            "openpeek.handlers.reaper.handler",
            "Deletes namespaces whose expires_at has passed",
            True,
            Duration.minutes(10),
        )
        reaper.allow_table(shared, *TABLE_READ, "dynamodb:DeleteItem", "dynamodb:ConditionCheckItem", indexes=True)
        reaper.allow_listing(shared, "namespaces/")
        reaper.allow_objects(shared, "namespaces/*", "s3:DeleteObject")
        reaper.allow_secrets(config, "secretsmanager:DeleteSecret")
        events.Rule(
            self,
            "ReaperSchedule",
            description="TTL reaper, hourly",
            schedule=events.Schedule.rate(Duration.hours(1)),
            targets=[targets.LambdaFunction(reaper.function, retry_attempts=2)],
        )

        # -- auto-index: payload indexes for often-filtered fields ------------------------------------------------
        autoindex = function(
            "AutoIndex",
            "openpeek.handlers.autoindex.handler",
            "Creates payload indexes for fields filtered often",
            True,
            Duration.minutes(10),
        )
        autoindex.allow_table(shared, *TABLE_READ, *TABLE_WRITE)
        autoindex.allow_secrets(config, *SECRETS_WRITE)  # a namespace it writes of an older version gets sealed
        events.Rule(
            self,
            "AutoIndexSchedule",
            description="Automatic payload indexes, every 6 hours",
            schedule=events.Schedule.rate(Duration.hours(6)),
            targets=[targets.LambdaFunction(autoindex.function, retry_attempts=2)],
        )

        # -- storage tiering: the hourly sweeper, and each lifecycle transition the API starts ---------------------
        tiering = function(
            "Tiering",
            "openpeek.handlers.tiering.handler",
            "Moves collections between the vector store and S3 Vectors (sweeps hourly; runs requested transitions)",
            True,
            Duration.minutes(15),
        )
        tiering.allow_table(shared, *TABLE_READ, *TABLE_WRITE, indexes=True)
        tiering.allow_secrets(config, *SECRETS_WRITE)  # likewise
        tiering.allow_objects(shared, "namespaces/*", "s3:GetObject", "s3:PutObject", "s3:DeleteObject")
        tiering.allow_listing(shared, "namespaces/")
        if shared.vector_bucket_arn:
            from stacks.tiering import allow_cold_vectors

            allow_cold_vectors(tiering.function, shared.vector_bucket_arn)
        self.tiering_function = tiering.function
        events.Rule(
            self,
            "TieringSchedule",
            description="Tiering sweeper, hourly: demotes idle collections, promotes busy cold ones",
            schedule=events.Schedule.rate(Duration.hours(1)),
            targets=[targets.LambdaFunction(tiering.function, retry_attempts=2)],
        )
        events.Rule(
            self,
            "TieringTransitions",
            description="Lifecycle transitions requested through the API",
            event_bus=self.event_bus,
            event_pattern=events.EventPattern(source=[EVENT_SOURCE], detail_type=["collection.lifecycle.requested"]),
            targets=[targets.LambdaFunction(tiering.function, retry_attempts=2)],
        )

        # -- webhooks: every domain event → queue → delivery; failures retried by SQS, then dead-lettered ----------
        self.webhook_dlq = sqs.Queue(
            self,
            "WebhookDeadLetters",
            retention_period=Duration.days(14),
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
        )
        self.webhook_queue = sqs.Queue(
            self,
            "WebhookDeliveries",
            # AWS's guidance for a Lambda-consumed queue: at least six times the function's timeout.
            visibility_timeout=Duration.minutes(6 * WEBHOOK_DELIVERY_TIMEOUT.to_minutes()),
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            dead_letter_queue=sqs.DeadLetterQueue(
                queue=self.webhook_dlq, max_receive_count=config.webhook_max_receive_count
            ),
        )
        events.Rule(
            self,
            "WebhookEvents",
            description="Domain events to the webhook delivery queue",
            event_bus=self.event_bus,
            event_pattern=events.EventPattern(source=[EVENT_SOURCE]),
            # Events EventBridge itself cannot put on the queue go to the same dead-letter queue.
            targets=[targets.SqsQueue(self.webhook_queue, dead_letter_queue=self.webhook_dlq, retry_attempts=8)],
        )
        delivery = function(
            "WebhookDelivery",
            "openpeek.handlers.webhook_delivery.handler",
            "Delivers domain events to subscribed webhooks",
            False,  # calls receivers on the internet; never talks to Qdrant
            WEBHOOK_DELIVERY_TIMEOUT,
        )
        delivery.allow_table(shared, *TABLE_READ, *TABLE_WRITE)
        delivery.function.add_event_source(
            event_sources.SqsEventSource(self.webhook_queue, batch_size=10, report_batch_item_failures=True)
        )

        dlq_alarm = self.webhook_dlq.metric_approximate_number_of_messages_visible(
            period=Duration.minutes(5), statistic="Maximum"
        ).create_alarm(
            self,
            "WebhookDeadLettersAlarm",
            threshold=config.alarm_dlq_messages,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description="Webhook events dead-lettered after their last delivery attempt",
        )
        dlq_alarm.add_alarm_action(cloudwatch_actions.SnsAction(self.alarm_topic))

        self.functions = {"reaper": reaper, "autoindex": autoindex, "webhook_delivery": delivery}
        CfnOutput(self, "EventBusName", value=self.event_bus.event_bus_name)
        CfnOutput(self, "AlarmTopicArn", value=self.alarm_topic.topic_arn)
