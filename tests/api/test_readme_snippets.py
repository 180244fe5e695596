"""The README's SDK snippet runs as written against a fresh server, after its curl block (a new user runs them in
that order)."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.slow

README = Path(__file__).resolve().parents[2] / "README.md"


def python_snippet() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("The official SDK (`pip install mixpeek==1.3.783`):")
    return re.search(r"```python\n(.*?)```", text[start:], re.DOTALL).group(1)


def test_the_sdk_snippet_runs_after_the_curl_block(server, capsys):
    base, key, _ = server
    # The curl block first: it creates `products`.
    created = httpx.post(f"{base}/v1/namespaces", headers={"Authorization": f"Bearer {key}"},
                         json={"namespace_name": "products", "features": ["text_search", "image_search"],
                               "ttl_seconds": 86400}, timeout=30)
    assert created.status_code == 200, created.text
    snippet = python_snippet().replace('"sk_..."', repr(key)).replace("http://127.0.0.1:8000", base)
    exec(compile(snippet, "README.md", "exec"), {})
    assert "the shop's catalogue" in capsys.readouterr().out
