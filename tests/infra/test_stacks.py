"""The synthesised templates of every environment: what each stack must contain, checked offline."""

from __future__ import annotations

import json
import re

import pytest
from aws_cdk.assertions import Match

from infra_support import ENVIRONMENTS, ROOT, definition_of

pytestmark = pytest.mark.parametrize("env", ENVIRONMENTS)


# -- data ---------------------------------------------------------------------------------------------------------------


def _indexes_written_by_repositories() -> set[str]:
    """Every gsiN whose key attribute a repository writes (`"gsi1pk"` in functions/openpeek/repositories)."""
    names: set[str] = set()
    for source in (ROOT / "functions/openpeek/repositories").glob("*.py"):
        names.update(re.findall(r"[\"'](gsi\d+)(?:pk|sk)[\"']", source.read_text()))
    return names


def test_table_keys_billing_ttl_recovery_and_every_index_the_repositories_use(synthesised, env) -> None:
    (table,) = synthesised[env].resources("AWS::DynamoDB::GlobalTable").values()
    properties = table["Properties"]

    assert properties["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert properties["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert all(r["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] for r in properties["Replicas"])
    indexes = {index["IndexName"]: index for index in properties["GlobalSecondaryIndexes"]}
    assert _indexes_written_by_repositories() == {"gsi1"}
    for name in _indexes_written_by_repositories():
        assert indexes[name]["KeySchema"] == [
            {"AttributeName": f"{name}pk", "KeyType": "HASH"},
            {"AttributeName": f"{name}sk", "KeyType": "RANGE"},
        ]
    types = {a["AttributeName"]: a["AttributeType"] for a in properties["AttributeDefinitions"]}
    assert types == {"pk": "S", "sk": "S", "gsi1pk": "S", "gsi1sk": "S"}


def test_bucket_is_encrypted_private_tls_only_and_has_lifecycle_rules(synthesised, env) -> None:
    data = synthesised[env].templates["data"]
    data.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
            },
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True,
                "BlockPublicPolicy": True,
                "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True,
            },
        },
    )
    (bucket,) = synthesised[env].resources("AWS::S3::Bucket", "data").values()
    rules = {rule["Id"]: rule for rule in bucket["Properties"]["LifecycleConfiguration"]["Rules"]}
    assert rules["abort-incomplete-uploads"]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 7}
    assert rules["expire-old-versions"]["NoncurrentVersionExpiration"] == {
        "NoncurrentDays": synthesised[env].config.artifacts_noncurrent_days
    }
    assert all(rule["Status"] == "Enabled" for rule in rules.values())
    data.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Deny",
                                "Action": "s3:*",
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                                "Principal": {"AWS": "*"},
                            }
                        )
                    ]
                )
            }
        },
    )


def test_prod_keeps_its_data_and_dev_does_not(synthesised, env) -> None:
    expected = "Retain" if env == "prod" else "Delete"
    stateful = (
        list(synthesised[env].resources("AWS::DynamoDB::GlobalTable").values())
        + list(synthesised[env].resources("AWS::S3::Bucket").values())
        + list(synthesised[env].resources("AWS::EFS::FileSystem").values())
        + list(synthesised[env].resources("AWS::SecretsManager::Secret").values())
        + list(synthesised[env].resources("AWS::EC2::Volume").values())  # a Qdrant cluster's node volumes
    )
    nodes = synthesised[env].config.qdrant_nodes
    assert len(stateful) == 3 + (nodes if nodes > 1 else 1)  # EFS for one node, an EBS volume per cluster node
    assert {resource["DeletionPolicy"] for resource in stateful} == {expected}
    (table,) = synthesised[env].resources("AWS::DynamoDB::GlobalTable").values()
    assert table["Properties"].get("Replicas")[0].get("DeletionProtectionEnabled", False) is (env == "prod")


# -- vectors ------------------------------------------------------------------------------------------------------------


# (Qdrant's two shapes, one node and a cluster: tests/infra/test_qdrant_cluster.py)


# -- functions ----------------------------------------------------------------------------------------------------------


def _python_functions(synthesised, env) -> dict[str, dict]:
    return {
        key: value
        for key, value in synthesised[env].resources("AWS::Lambda::Function").items()
        if value["Properties"].get("Runtime", "").startswith("python")
    }


def test_every_function_runs_python_3_12_with_the_aws_runtime_settings(synthesised, env) -> None:
    functions = _python_functions(synthesised, env)
    handlers = sorted(f["Properties"]["Handler"] for f in functions.values())

    assert handlers == sorted(
        f"openpeek.handlers.{name}.handler"
        for name in (
            "api",
            "reaper",
            "autoindex",
            "webhook_delivery",
            "cluster_prepare",
            "cluster_finalize",
            "cluster_mark_failed",
            "batch_prepare",
            "batch_extract",
            "batch_stage",
            "batch_store",
            "batch_finalize",
            "batch_mark_failed",
            "tiering",
            "cluster_triggers",
        )
    )
    for function in functions.values():
        properties = function["Properties"]
        variables = properties["Environment"]["Variables"]
        assert properties["Runtime"] == "python3.12"
        assert properties["TracingConfig"] == {"Mode": "Active"}
        assert variables["OPENPEEK_RUNTIME"] == "aws"
        for name in ("OPENPEEK_TABLE_NAME", "OPENPEEK_BUCKET_NAME", "OPENPEEK_QDRANT_URL", "OPENPEEK_EVENT_BUS_NAME"):
            assert variables[name], name
        assert variables["POWERTOOLS_SERVICE_NAME"] == "openpeek"
        assert variables["POWERTOOLS_METRICS_NAMESPACE"] == f"openpeek/{env}"
        assert variables["POWERTOOLS_LOG_LEVEL"] == synthesised[env].config.log_level
        # Only the functions inside the VPC can reach Qdrant, and only they get its key.
        assert ("VpcConfig" in properties) == ("OPENPEEK_QDRANT_API_KEY_SECRET_ARN" in variables)
    (api,) = [f for f in functions.values() if f["Properties"]["Handler"] == "openpeek.handlers.api.handler"]
    assert api["Properties"]["MemorySize"] == synthesised[env].config.api_memory_mb
    assert "VpcConfig" in api["Properties"]


def test_http_api_stage_throttles_and_writes_json_access_logs(synthesised, env) -> None:
    (stage,) = synthesised[env].resources("AWS::ApiGatewayV2::Stage").values()
    properties = stage["Properties"]
    config = synthesised[env].config

    assert properties["DefaultRouteSettings"]["ThrottlingRateLimit"] == config.api_throttle_rate
    assert properties["DefaultRouteSettings"]["ThrottlingBurstLimit"] == config.api_throttle_burst
    assert json.loads(properties["AccessLogSettings"]["Format"])["requestId"] == "$context.requestId"
    assert "ApiUrl" in synthesised[env].raw["api"]["Outputs"]


# -- clustering ---------------------------------------------------------------------------------------------------------


def test_state_machine_prepares_processes_on_sagemaker_and_finalizes_and_catches_every_failure(
    synthesised, env
) -> None:
    (machine,) = synthesised[env].resources("AWS::StepFunctions::StateMachine", "clustering").values()
    definition = definition_of(machine)
    states = definition["States"]

    assert definition["StartAt"] == "Prepare"
    assert states["Prepare"]["Next"] == "Process"
    assert states["Process"]["Next"] == "Finalize"
    assert states["Finalize"]["End"] is True
    assert states["Process"]["Resource"].endswith(":states:::sagemaker:createProcessingJob.sync")
    cluster = states["Process"]["Parameters"]["ProcessingResources"]["ClusterConfig"]
    assert cluster["InstanceType"] == synthesised[env].config.clustering_instance_type == "ml.g4dn.xlarge"
    for name in ("Prepare", "Process", "Finalize"):
        assert states[name]["Catch"] == [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "MarkFailed"}]
        assert states[name]["TimeoutSeconds"] > 0
        assert states[name]["Retry"] and all(retry["BackoffRate"] > 1 for retry in states[name]["Retry"])
    assert states["MarkFailed"]["Next"] == "ClusteringFailed"
    assert states["ClusteringFailed"]["Type"] == "Fail"
    assert machine["Properties"]["TracingConfiguration"] == {"Enabled": True}


def test_clustering_instance_type_is_selectable(env) -> None:
    from stacks.config import load_config

    assert load_config(env, clustering_instance_type="ml.m5.2xlarge").clustering_instance_type == "ml.m5.2xlarge"
    assert load_config(env, api_memory_mb="2048").api_memory_mb == 2048  # context values arrive as strings
    with pytest.raises(ValueError):
        load_config(env, no_such_setting=1)


# -- automation ---------------------------------------------------------------------------------------------------------


def _function_key(synthesised, env, handler: str) -> str:
    return next(k for k, f in _python_functions(synthesised, env).items() if f["Properties"]["Handler"] == handler)


def test_schedules_start_the_reaper_hourly_and_the_auto_indexer_every_six_hours(synthesised, env) -> None:
    rules = synthesised[env].resources("AWS::Events::Rule", "automation").values()
    scheduled = [rule["Properties"] for rule in rules if "ScheduleExpression" in rule["Properties"]]
    by_target = {}
    for rule in scheduled:
        (target,) = rule["Targets"]
        by_target[target["Arn"]["Fn::GetAtt"][0]] = rule["ScheduleExpression"]

    assert len(scheduled) == 3  # the tiering sweeper is the third (tests/infra/test_tiering_stack.py)
    for expression, handler in (("rate(1 hour)", "reaper"), ("rate(6 hours)", "autoindex"),
                                ("rate(1 hour)", "tiering")):
        assert by_target[_function_key(synthesised, env, f"openpeek.handlers.{handler}.handler")] == expression


def test_webhook_events_go_through_a_queue_with_a_dead_letter_queue_and_an_alarm(synthesised, env) -> None:
    automation = synthesised[env].raw["automation"]["Resources"]
    queues = {key: value for key, value in automation.items() if value["Type"] == "AWS::SQS::Queue"}
    (queue_key,) = [key for key, value in queues.items() if "RedrivePolicy" in value["Properties"]]
    (dlq_key,) = set(queues) - {queue_key}
    redrive = queues[queue_key]["Properties"]["RedrivePolicy"]

    assert redrive == {
        "deadLetterTargetArn": {"Fn::GetAtt": [dlq_key, "Arn"]},
        "maxReceiveCount": synthesised[env].config.webhook_max_receive_count,
    }
    (mapping,) = [v["Properties"] for v in automation.values() if v["Type"] == "AWS::Lambda::EventSourceMapping"]
    assert mapping["EventSourceArn"] == {"Fn::GetAtt": [queue_key, "Arn"]}
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    (event_rule,) = [
        v["Properties"]
        for v in automation.values()
        if v["Type"] == "AWS::Events::Rule" and "EventPattern" in v["Properties"]
        and "detail-type" not in v["Properties"]["EventPattern"]  # the tiering transitions' rule is a narrow one
    ]
    assert event_rule["EventPattern"] == {"source": ["openpeek"]}
    assert event_rule["Targets"][0]["Arn"] == {"Fn::GetAtt": [queue_key, "Arn"]}
    alarms = [v["Properties"] for v in automation.values() if v["Type"] == "AWS::CloudWatch::Alarm"]
    assert any(
        a["MetricName"] == "ApproximateNumberOfMessagesVisible"
        and a["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": [dlq_key, "QueueName"]}}]
        for a in alarms
    )


def test_every_function_has_an_errors_alarm(synthesised, env) -> None:
    alarmed = {
        json.dumps(alarm["Properties"]["Dimensions"][0]["Value"])
        for alarm in synthesised[env].resources("AWS::CloudWatch::Alarm").values()
        if alarm["Properties"].get("MetricName") == "Errors"
    }
    for key in _python_functions(synthesised, env):
        assert json.dumps({"Ref": key}) in alarmed, key
