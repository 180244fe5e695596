"""The live AWS tier: tests that call the real services of the account the environment's credentials name. Never
part of `make test` (pytest's testpaths is tests/); run them with `make test-live-aws`. Without credentials the run
stops at once with the reason, instead of passing with nothing tested."""

from __future__ import annotations

import os
import uuid

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    import boto3

    if boto3.session.Session().get_credentials() is None:
        pytest.exit("the live AWS tests need AWS credentials (AWS_PROFILE or AWS_ACCESS_KEY_ID/…) and a region "
                    "(AWS_REGION); none were found", returncode=2)


@pytest.fixture(scope="session")
def live_vector_bucket():
    """OPENPEEK_LIVE_VECTOR_BUCKET when set (an existing vector bucket, left in place); otherwise a bucket made for
    this run and deleted after it."""
    import boto3

    client = boto3.client("s3vectors")
    named = os.environ.get("OPENPEEK_LIVE_VECTOR_BUCKET")
    if named:
        yield client, named
        return
    bucket = f"openpeek-live-{uuid.uuid4().hex[:12]}"
    client.create_vector_bucket(vectorBucketName=bucket)
    try:
        yield client, bucket
    finally:
        for page in client.get_paginator("list_indexes").paginate(vectorBucketName=bucket):
            for index in page.get("indexes", []):
                client.delete_index(vectorBucketName=bucket, indexName=index["indexName"])
        client.delete_vector_bucket(vectorBucketName=bucket)
