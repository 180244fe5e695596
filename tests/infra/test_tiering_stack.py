"""Storage tiering in the synthesised stacks: one S3 Vectors bucket per environment, the functions that use it told
its name and allowed on it alone, the sweeper hourly, and transitions the API requests routed to the same Lambda."""

from __future__ import annotations

from aws_cdk.assertions import Match
from infra_support import ENVIRONMENTS


def _function_with_handler(synth, handler: str) -> tuple[str, dict]:
    found = [(key, value) for key, value in synth.resources("AWS::Lambda::Function").items()
             if value["Properties"].get("Handler") == handler]
    assert len(found) == 1, handler
    return found[0]


def test_one_vector_bucket_per_environment_named_by_the_rules(synthesised):
    names = set()
    for name, synth in synthesised.items():
        buckets = synth.resources("AWS::S3Vectors::VectorBucket", "data")
        assert len(buckets) == 1
        bucket_name = next(iter(buckets.values()))["Properties"]["VectorBucketName"]
        assert 3 <= len(bucket_name) <= 63 and bucket_name == bucket_name.lower() and "_" not in bucket_name
        names.add(bucket_name)
    assert len(names) == len(synthesised)  # environments never share cold vectors


def test_api_and_tiering_functions_get_the_bucket_and_only_it(synthesised):
    synth = synthesised["dev"]
    for handler in ("openpeek.handlers.api.handler", "openpeek.handlers.tiering.handler"):
        _, function = _function_with_handler(synth, handler)
        assert "OPENPEEK_VECTOR_BUCKET_NAME" in function["Properties"]["Environment"]["Variables"]
    statements = [statement for policy in synth.resources("AWS::IAM::Policy").values()
                  for statement in policy["Properties"]["PolicyDocument"]["Statement"]
                  if any(str(action).startswith("s3vectors:") for action in
                         (statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]))]
    assert len(statements) == 2  # the API's and the tiering Lambda's
    for statement in statements:
        assert "s3vectors:QueryVectors" in statement["Action"] and "*" not in statement["Action"]
        assert len(statement["Resource"]) == 2 and statement["Resource"][0] != "*"


def test_sweeper_runs_hourly_and_requested_transitions_reach_it(synthesised):
    template = synthesised["dev"].templates["automation"]
    key, _ = _function_with_handler(synthesised["dev"], "openpeek.handlers.tiering.handler")
    template.has_resource_properties("AWS::Events::Rule", {
        "ScheduleExpression": "rate(1 hour)",
        "Targets": Match.array_with([Match.object_like({"Arn": {"Fn::GetAtt": [key, "Arn"]}})]),
    })
    template.has_resource_properties("AWS::Events::Rule", {
        "EventPattern": {"source": ["openpeek"], "detail-type": ["collection.lifecycle.requested"]},
        "Targets": Match.array_with([Match.object_like({"Arn": {"Fn::GetAtt": [key, "Arn"]}})]),
    })
