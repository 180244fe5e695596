"""Secrets Manager: the Qdrant API key of the deployed vector store (read once per cold start), and the SecretStore
the table's secrets live in (namespaces' vector-store keys and OpenFGA tokens, webhooks' signing secrets and header
values).

A revision is a Secrets Manager version (its ClientRequestToken / VersionId), so a record names the exact value it was
written with; a revision's value never changes, so it is cached for the life of the process (a namespace read on
every request costs one call per process). Versions without a staging label age out by themselves."""

from __future__ import annotations

import threading
from typing import Any

import boto3

from openpeek.adapters.aws.clients import LazyClient
from openpeek.domain.failures import DependencyUnavailable, SecretNotFound


def read_secret(secret_id: str) -> str:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return boto3.client("secretsmanager").get_secret_value(SecretId=secret_id)["SecretString"]
    except ClientError as error:
        if _code(error) == "ResourceNotFoundException":
            raise SecretNotFound(f"no secret {secret_id}") from error
        raise DependencyUnavailable(f"cannot read secret {secret_id}: {error}") from error
    except BotoCoreError as error:
        raise DependencyUnavailable(f"cannot read secret {secret_id}: {error}") from error


def _unavailable(error: Exception) -> DependencyUnavailable:
    return DependencyUnavailable(f"Secrets Manager is unavailable: {error}")


def _code(error: Any) -> str:
    return getattr(error, "response", {}).get("Error", {}).get("Code", "")


class SecretsManagerStore:
    """The SecretStore on AWS Secrets Manager. `client`: one made already (tests)."""

    def __init__(self, *, client: Any = None, region: str | None = None, cache_size: int = 4096) -> None:
        self._client = LazyClient("secretsmanager", region=region, client=client, setup_failed=_unavailable)
        self._cache: dict[tuple[str, str], str] = {}
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def put(self, name: str, revision: str, value: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        client = self._client.get()
        try:
            try:
                client.put_secret_value(SecretId=name, ClientRequestToken=revision, SecretString=value)
            except ClientError as error:
                if _code(error) != "ResourceNotFoundException":
                    raise
                client.create_secret(Name=name, ClientRequestToken=revision, SecretString=value,
                                     Description="openpeek: a secret of one namespace or webhook")
        except (BotoCoreError, ClientError) as error:
            raise _unavailable(error) from error
        self._remember(name, revision, value)

    def get(self, name: str, revision: str) -> str:
        from botocore.exceptions import BotoCoreError, ClientError

        cached = self._cache.get((name, revision))
        if cached is not None:
            return cached
        try:
            value = self._client.get().get_secret_value(SecretId=name, VersionId=revision)["SecretString"]
        except ClientError as error:
            if _code(error) == "ResourceNotFoundException":
                raise SecretNotFound(f"secret {name} (revision {revision}) is not in Secrets Manager") from error
            raise _unavailable(error) from error
        except BotoCoreError as error:
            raise _unavailable(error) from error
        self._remember(name, revision, value)
        return value

    def delete_revision(self, name: str, revision: str) -> None:
        """Secrets Manager keeps AWSCURRENT on the newest version and ages unlabelled old versions out itself; the
        version is only forgotten here."""
        with self._lock:
            self._cache.pop((name, revision), None)

    def delete(self, name: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._client.get().delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)
        except ClientError as error:
            if _code(error) != "ResourceNotFoundException":
                raise _unavailable(error) from error
        except BotoCoreError as error:
            raise _unavailable(error) from error
        with self._lock:
            for key in [key for key in self._cache if key[0] == name]:
                del self._cache[key]

    def _remember(self, name: str, revision: str, value: str) -> None:
        with self._lock:
            if len(self._cache) >= self._cache_size:
                self._cache.pop(next(iter(self._cache)))
            self._cache[(name, revision)] = value
