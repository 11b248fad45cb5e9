"""The tiny `dvc repro` that the pipeline and browser tests share (session scope: it runs once)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from _support import DVC, copy_repo, sh, tiny_pipeline_params


@pytest.fixture(scope="session")
def repro(tmp_path_factory) -> Path:
    """A clean copy of the repo, tiny params, `dvc repro` run once."""
    root = copy_repo(tmp_path_factory.mktemp("repo"))
    (root / "params.yaml").write_text(yaml.safe_dump(tiny_pipeline_params(), sort_keys=False))
    sh(["git", "init", "-q"], root)
    sh(["git", "add", "-A"], root)
    sh(["git", "commit", "-qm", "tiny"], root)
    sh([DVC, "repro"], root, timeout=1500)
    return root


