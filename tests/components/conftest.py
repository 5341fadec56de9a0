"""Run the whole estate program under mocks with recognisable canary secrets (tests/estates does the work)."""

from __future__ import annotations

from pathlib import Path

import pytest

from review.engine import Recording
from tests.estates import declare as declare_estate
from tests.estates import declared


def declare(root: Path) -> Recording:
    """Everything the estate under `root` declares, with a canary value for every secret its policy names."""
    return declare_estate(root).recording


@pytest.fixture(scope="session")
def estate_recording() -> Recording:
    """The shipped estate, declared once per test session (shared with the estate invariants)."""
    return declared("shipped").recording
