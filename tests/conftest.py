"""Shared test fixtures: the repository root and a scratch copy of the policy tree."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    """A scratch copy of the project's program, policies, runbooks and stack files."""
    for name in ("alert_policies", "runbooks", "dashboards", "components", "model", "providers", "review", "schemas"):
        if (ROOT / name).exists():
            shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("__main__.py", "Pulumi.yaml", "Pulumi.prod.yaml", "Pulumi.staging.yaml"):
        shutil.copy(ROOT / name, tmp_path / name)
    return tmp_path
