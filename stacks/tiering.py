"""Storage tiering in AWS: the environment's S3 Vectors bucket (cold collections, one index per collection and
vector, created by the service as collections are demoted) and the grants a function needs to use it. CDK has only
the L1 constructs for S3 Vectors."""

from __future__ import annotations

from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3vectors as s3vectors
from constructs import Construct

from stacks.config import EnvironmentConfig

VECTOR_ACTIONS = (
    "s3vectors:CreateIndex", "s3vectors:DeleteIndex", "s3vectors:GetIndex", "s3vectors:ListIndexes",
    "s3vectors:PutVectors", "s3vectors:GetVectors", "s3vectors:ListVectors", "s3vectors:DeleteVectors",
    "s3vectors:QueryVectors",
)


def vector_bucket_name(config: EnvironmentConfig) -> str:
    """3-63 lowercase letters, digits and hyphens, unique per account and region: the environment's prefix."""
    return f"{config.prefix}-cold-vectors".lower()[:63]


def cold_vector_bucket(scope: Construct, config: EnvironmentConfig) -> s3vectors.CfnVectorBucket:
    return s3vectors.CfnVectorBucket(scope, "ColdVectors", vector_bucket_name=vector_bucket_name(config))


def allow_cold_vectors(function: iam.IGrantable, bucket_arn: str) -> None:
    """The vector bucket and the indexes under it, nothing else."""
    function.grant_principal.add_to_principal_policy(iam.PolicyStatement(
        actions=list(VECTOR_ACTIONS), resources=[bucket_arn, f"{bucket_arn}/index/*"]))
