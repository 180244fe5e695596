"""Every Lambda handler the stacks name, and the clustering container's entrypoint, import and behave at their edges."""

from __future__ import annotations

import importlib
import importlib.util

import pytest
from infra_support import ENVIRONMENTS, ROOT


def _handlers(synthesised) -> set[str]:
    return {
        function["Properties"]["Handler"]
        for env in ENVIRONMENTS
        for function in synthesised[env].resources("AWS::Lambda::Function").values()
        if function["Properties"].get("Runtime", "").startswith("python")
    }


def test_every_handler_named_in_the_stacks_imports_and_is_callable(synthesised) -> None:
    handlers = _handlers(synthesised)

    assert len(handlers) == 15  # clustering 3 + cluster triggers 1, automation 3, api 1, batches 6, tiering 1
    for handler in handlers:
        module_name, _, attribute = handler.rpartition(".")
        module = importlib.import_module(module_name)
        assert callable(getattr(module, attribute)), handler


def _entrypoint():
    spec = importlib.util.spec_from_file_location("clustering_entrypoint", ROOT / "containers/clustering/entrypoint.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_container_entrypoint_imports_without_the_engine_and_refuses_an_input_without_parquet(tmp_path, capsys) -> None:
    entrypoint = _entrypoint()
    (tmp_path / "in").mkdir()

    code = entrypoint.main(["--input", str(tmp_path / "in"), "--output", str(tmp_path / "out")])

    assert code == entrypoint.EXIT_BAD_INPUT
    assert "no *.parquet input" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_container_entrypoint_refuses_job_parameters_that_are_not_an_object(tmp_path) -> None:
    entrypoint = _entrypoint()
    (tmp_path / "vectors.parquet").write_bytes(b"PAR1")
    (tmp_path / "job.json").write_text("[1, 2]")

    assert entrypoint.main(["--input", str(tmp_path), "--output", str(tmp_path / "out")]) == entrypoint.EXIT_BAD_INPUT


def test_the_dockerfile_installs_the_cluster_extra_and_runs_the_entrypoint() -> None:
    dockerfile = (ROOT / "containers/clustering/Dockerfile").read_text()

    # the CPU image installs the cluster extra; the CUDA variant adds cluster-gpu through the same build argument
    assert "ARG ENGINE_EXTRAS=cluster\n" in dockerfile
    assert 'pip install ".[${ENGINE_EXTRAS}]"' in dockerfile
    assert "COPY containers/clustering/entrypoint.py /opt/openpeek/entrypoint.py" in dockerfile
