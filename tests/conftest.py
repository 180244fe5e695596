"""Shared fixtures: the embedded runtime on a temporary data dir, and an HTTP client over the real app."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from openpeek.api.app import create_app
from openpeek.runtime import Services, build_services
from openpeek.settings import Settings


@pytest.fixture
def services(tmp_path: Path):
    built = build_services(Settings(runtime="embedded", data_dir=tmp_path / "data"))
    yield built
    built.close()


@dataclass
class Tenant:
    org_id: str
    key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


def make_tenant(services: Services, name: str, *, enterprise: bool = False) -> Tenant:
    org = services.organizations.ensure_org(name, enterprise=enterprise)
    return Tenant(org["org_id"], services.organizations.issue_key(org["org_id"]).plain_key)


@pytest.fixture
def tenant(services) -> Tenant:
    return make_tenant(services, "acme")


@pytest.fixture
def other_tenant(services) -> Tenant:
    return make_tenant(services, "globex")


@pytest.fixture
def enterprise_tenant(services) -> Tenant:
    return make_tenant(services, "initech", enterprise=True)


@pytest.fixture
def client(services) -> TestClient:
    return TestClient(create_app(services), raise_server_exceptions=False)


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials, so nothing can reach a real account even if a call escaped moto's mock."""
    for name in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
