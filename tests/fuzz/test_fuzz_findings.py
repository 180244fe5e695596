"""Requests the fuzzers found answered 5xx, kept as plain regression tests over the real app (no live server)."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("name", ["a%00b", "%00", "index.html%00.js", "%F0%9F%92%A5%00"])
def test_a_studio_file_name_with_a_nul_byte_is_a_clear_4xx(client, name):
    response = client.get(f"/studio/{name}")
    assert 400 <= response.status_code < 500, response.text
    assert client.get("/studio/index.html").status_code == 200
