"""What a new user meets: a JSON body without its Content-Type gets a 422 that says so, and a CLI command run beside
a server that holds the data directory says why it cannot run instead of printing a traceback."""

from __future__ import annotations

import pytest

from openpeek import cli
from openpeek.domain.failures import DependencyUnavailable


def test_a_json_body_without_content_type_gets_a_422_naming_the_header(client, tenant):
    response = client.post("/v1/namespaces", headers=tenant.headers, content=b'{"namespace_name": "x1x"}')
    assert response.status_code == 422
    assert "Content-Type: application/json" in response.json()["detail"][0]["msg"]
    typed = client.post("/v1/namespaces", headers={**tenant.headers, "Content-Type": "text/plain"},
                        content=b'{"namespace_name": "x1x"}')
    assert "Content-Type is text/plain" in typed.json()["detail"][0]["msg"]


@pytest.mark.parametrize("command", [["autoindex"], ["reap"], ["demo"]])
def test_a_command_beside_a_running_server_says_why_it_cannot_run(monkeypatch, capsys, command):
    def locked(_data_dir):
        raise DependencyUnavailable("qdrant edge: Service runtime error: failed to open WAL /d/wal: Can't init WAL: "
                                    "Kind(WouldBlock)")

    monkeypatch.setattr(cli, "_services", locked)
    assert cli.main([*command, "--data-dir", "/nowhere"]) == 3
    message = capsys.readouterr().err
    assert "in use by a running `openpeek serve`" in message and "Traceback" not in message
