"""Editable copies of the example estates for tests of bad or extended policy: copy, append, load, locate."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from model.errors import PolicyError, Problem
from model.inputs import load_inputs
from model.specs import App
from tests.estates import ESTATES


def copy_estate(estate_name: str, target: Path) -> Path:
    """The example estate's policy, runbooks and dashboards under `target`, to be edited by the test."""
    for name in ("alert_policies", "runbooks", "dashboards"):
        shutil.copytree(ESTATES[estate_name] / name, target / name)
    return target


def append(path: Path, text: str) -> str:
    """`text` added at the end of the file; returns the whole new text."""
    content = path.read_text() + text
    path.write_text(content)
    return content


def line_of(text: str, fragment: str) -> int:
    """The 1-based line of the first line containing `fragment`."""
    return next(n for n, line in enumerate(text.splitlines(), 1) if fragment in line)


def problems(project: Path) -> list[Problem]:
    """The problems loading `project` reports (the test fails if it loads)."""
    with pytest.raises(PolicyError) as caught:
        load_inputs(project)
    return list(caught.value.problems)


def estates_where(shape: Callable[[Sequence[App]], bool], description: str) -> list[str]:
    """The example estates whose apps have `shape`; at least one must, or the test proves nothing."""
    chosen = [name for name in sorted(ESTATES) if shape(load_inputs(ESTATES[name])[0].apps)]
    assert chosen, f"no example estate has {description}: add one under tests/estates"
    return chosen
