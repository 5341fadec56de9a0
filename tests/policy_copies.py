"""Editable copies of the example estates for tests of bad or extended policy: copy, append, load, locate."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from model.errors import PolicyError, Problem
from model.inputs import load_inputs
from model.specs import App
from tests import estates


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
    """The example estates whose apps have `shape` (`description` names it for the reader of the test)."""
    return estates.estates_where(lambda estate: shape(estate.apps))
