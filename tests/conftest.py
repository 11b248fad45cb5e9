"""Suite-wide fixtures: a tiny project (params + synthetic data in the real layouts) that the
end-to-end tests run the real CLI in, and settings that keep MLflow quiet."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

# mlflow's telemetry thread edits os.environ while requests reads it (a race seen here).
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")
# MLflow 3 servers start job workers (huey consumers, one process each, ~170 MB): no test uses them,
# and every server the suite starts would hold 1-2 GB more on a 24 GiB machine.
os.environ.setdefault("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")

from _support import invoke_cli, run_cli, tiny_params  # noqa: E402


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> Path:
    """Synthetic data at tiny size, written once per session by `vi2clr data synth` (in process)."""
    root = tmp_path_factory.mktemp("tiny_data")
    (root / "params.yaml").write_text(yaml.safe_dump(tiny_params()))
    invoke_cli(["data", "synth"], cwd=root)
    return root / "data"


@pytest.fixture
def tiny_project(tmp_path, tiny_data) -> Path:
    """A working folder with tiny params.yaml and a link to the session's synthetic data."""
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(tiny_params()))
    (tmp_path / "data").symlink_to(tiny_data, target_is_directory=True)
    return tmp_path


@pytest.fixture(scope="session")
def tiny_pretrained(tmp_path_factory, tiny_data) -> Path:
    """One tiny pretraining shared by the evaluation tests: returns its project folder."""
    root = tmp_path_factory.mktemp("tiny_pretrained")
    (root / "params.yaml").write_text(yaml.safe_dump(tiny_params()))
    (root / "data").symlink_to(tiny_data, target_is_directory=True)
    run_cli(["pretrain"], cwd=root)
    return root


def pytest_collection_modifyitems(config, items):
    """The tests of the one tiny `dvc repro` (the session fixture ``repro``, ~3 min) come first, in
    their own order: under pytest-xdist their modules' ``xdist_group("repro")`` mark keeps them on one
    worker (so the repro runs once), and the longest chain starts while the other worker takes the rest."""
    chain = [item for item in items if "repro" in getattr(item, "fixturenames", ())]
    in_chain = {id(item) for item in chain}
    items[:] = chain + [item for item in items if id(item) not in in_chain]
    if getattr(config.option, "loadgroup", False):  # set on pytest-xdist workers under --dist loadgroup
        _mark_groups_in_node_ids(items)


def _mark_groups_in_node_ids(items) -> None:
    """Append ``@<group>`` to the node id of each test marked ``xdist_group``: the id suffix is how
    pytest-xdist's loadgroup scheduler keeps a group on one worker. pytest-xdist 3.8 writes the
    suffix to ``item._nodeid``, which pytest >= 9.2 no longer reads (the id lives in ``item._id``),
    so without this every group was spread over both workers and each built its own tiny repro.
    A no-op where xdist's own suffix took effect (older pytest)."""
    for item in items:
        groups = sorted({str(m.args[0] if m.args else m.kwargs.get("name", "default"))
                         for m in item.iter_markers("xdist_group")})
        if groups and "@" not in item.nodeid:
            from _pytest.nodeid import coerce_node_id  # pytest >= 9.2 only, where it is needed

            item._id = coerce_node_id(f"{item.nodeid}@{'_'.join(groups)}")
