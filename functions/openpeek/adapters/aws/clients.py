"""boto3 clients made on first use, written once for every AWS adapter: building an adapter (at Lambda import time)
needs no network and no credentials, and the client is built exactly once even when threads race for it (boto3's
default session is not thread-safe when it builds clients, so each client gets a session of its own)."""

from __future__ import annotations

import threading
from typing import Any, Callable

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError


class LazyClient:
    def __init__(self, service: str, *, config: Config | None = None, region: str | None = None, client: Any = None,
                 setup_failed: Callable[[BotoCoreError], Exception] | None = None) -> None:
        """`client`: one made already (tests). `setup_failed`: what to raise when the client cannot be built (the
        adapter's DependencyUnavailable); botocore's own error when None."""
        self._service = service
        self._config = config
        self._region = region
        self._client = client
        self._setup_failed = setup_failed
        self._lock = threading.Lock()

    def get(self) -> Any:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    try:
                        self._client = boto3.session.Session().client(self._service, region_name=self._region,
                                                                      config=self._config)
                    except BotoCoreError as error:
                        if self._setup_failed is None:
                            raise
                        raise self._setup_failed(error) from error
        return self._client
