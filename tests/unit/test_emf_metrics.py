"""The Metrics port's EMF lines: the shape CloudWatch reads, and the embedded runtime's file rotated past its size."""

from __future__ import annotations

import json

from openpeek.adapters.emf_metrics import EmfMetrics, RotatingLines


def test_each_value_is_one_emf_line_with_namespace_unit_and_service_dimension() -> None:
    lines: list[str] = []
    metrics = EmfMetrics(namespace="openpeek/test", write=lines.append)

    metrics.count("DocumentsUpserted", 3)
    metrics.milliseconds("RetrieverLatency", 4.5)

    upserted, latency = (json.loads(line) for line in lines)
    (directive,) = upserted["_aws"]["CloudWatchMetrics"]
    assert directive == {"Namespace": "openpeek/test", "Dimensions": [["service"]],
                         "Metrics": [{"Name": "DocumentsUpserted", "Unit": "Count"}]}
    assert upserted["service"] == "openpeek" and upserted["DocumentsUpserted"] == [3.0]
    assert isinstance(upserted["_aws"]["Timestamp"], int)
    assert latency["_aws"]["CloudWatchMetrics"][0]["Metrics"] == [{"Name": "RetrieverLatency", "Unit": "Milliseconds"}]
    assert latency["RetrieverLatency"] == [4.5]


def test_the_file_is_rotated_past_its_size_and_keeps_the_newest_lines(tmp_path) -> None:
    path = tmp_path / "metrics.jsonl"
    write = RotatingLines(path, max_bytes=100, backups=2)

    for number in range(12):
        write(f"line {number:02d} " + "x" * 30)  # 39 bytes with the newline: two lines a file
    write.close()

    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.jsonl", "metrics.jsonl.1", "metrics.jsonl.2"]
    assert path.read_text().splitlines()[-1].startswith("line 11")
    assert (tmp_path / "metrics.jsonl.1").read_text().splitlines()[0].startswith("line 08")
    assert (tmp_path / "metrics.jsonl.2").read_text().splitlines()[0].startswith("line 06")
