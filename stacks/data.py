"""Data: the single DynamoDB table (DESIGN.md's key model) and the S3 artifacts bucket."""

from __future__ import annotations

from aws_cdk import CfnOutput, Duration, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.config import EnvironmentConfig
from stacks.functions import removal_policy

# Secondary indexes the repositories query, each keyed by string attributes <name>pk / <name>sk (the convention of
# adapters/aws/dynamodb_table.py). gsi1: namespaces by expiry (repositories/namespaces.py, EXPIRY_INDEX).
TABLE_INDEXES = ("gsi1",)
TTL_ATTRIBUTE = "expires_at"


class DataStack(Stack):
    def __init__(self, scope: Construct, id: str, *, config: EnvironmentConfig, **kwargs) -> None:
        super().__init__(scope, id, **kwargs)
        retention = removal_policy(config)

        self.table = dynamodb.TableV2(
            self,
            "Table",
            table_name=config.prefix,
            partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="sk", type=dynamodb.AttributeType.STRING),
            billing=dynamodb.Billing.on_demand(),
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            time_to_live_attribute=TTL_ATTRIBUTE,
            deletion_protection=config.retain_data,
            removal_policy=retention,
            global_secondary_indexes=[
                dynamodb.GlobalSecondaryIndexPropsV2(
                    index_name=name,
                    partition_key=dynamodb.Attribute(name=f"{name}pk", type=dynamodb.AttributeType.STRING),
                    sort_key=dynamodb.Attribute(name=f"{name}sk", type=dynamodb.AttributeType.STRING),
                    # ALL: a reader gets whole items from the index (the reaper re-reads before it acts anyway).
                    projection_type=dynamodb.ProjectionType.ALL,
                )
                for name in TABLE_INDEXES
            ],
        )
        self.table_indexes = TABLE_INDEXES

        self.bucket = s3.Bucket(
            self,
            "Artifacts",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            versioned=True,
            removal_policy=retention,
            # A bucket with objects cannot be deleted; outside prod, tearing down empties it first.
            auto_delete_objects=not config.retain_data,
            # Browsers PUT upload files straight to presigned URLs (managed content); nothing else crosses origins.
            cors=[
                s3.CorsRule(
                    allowed_methods=[s3.HttpMethods.PUT],
                    allowed_origins=list(config.upload_allowed_origins),
                    allowed_headers=["Content-Type", "Content-MD5", "x-amz-*"],
                    exposed_headers=["ETag"],
                    max_age=3600,
                )
            ],
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-old-versions",
                    noncurrent_version_expiration=Duration.days(config.artifacts_noncurrent_days),
                    expired_object_delete_marker=True,
                ),
                s3.LifecycleRule(
                    id="abort-incomplete-uploads", abort_incomplete_multipart_upload_after=Duration.days(7)
                ),
                s3.LifecycleRule(
                    # Namespace blobs (cluster inputs, job outputs, cold tier) are read rarely once a month old.
                    id="namespace-blobs-intelligent-tiering",
                    prefix="namespaces/",
                    transitions=[
                        s3.Transition(
                            storage_class=s3.StorageClass.INTELLIGENT_TIERING, transition_after=Duration.days(30)
                        )
                    ],
                ),
            ],
        )

        # Cold collections (storage tiering): S3 Vectors, one bucket per environment.
        from stacks.tiering import cold_vector_bucket

        self.vector_bucket = cold_vector_bucket(self, config)
        self.vector_bucket_name = self.vector_bucket.vector_bucket_name
        CfnOutput(self, "ColdVectorBucketName", value=self.vector_bucket.vector_bucket_name)
        CfnOutput(self, "TableName", value=self.table.table_name)
        CfnOutput(self, "BucketName", value=self.bucket.bucket_name)
