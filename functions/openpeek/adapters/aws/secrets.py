"""Secrets Manager: the Qdrant API key of the deployed vector store is read once per cold start."""

from __future__ import annotations

import boto3

from openpeek.domain.failures import DependencyUnavailable


def read_secret(secret_id: str) -> str:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return boto3.client("secretsmanager").get_secret_value(SecretId=secret_id)["SecretString"]
    except (BotoCoreError, ClientError) as error:
        raise DependencyUnavailable(f"cannot read secret {secret_id}: {error}") from error
