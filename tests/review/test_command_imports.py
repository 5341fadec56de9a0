"""What `python -m review` imports for each command: `diff` orchestrates and must not load the SDK's machinery."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT


def _imported_after(code: str) -> set[str]:
    """Top-level module names imported in a fresh interpreter after running `code` (with the project on the path)."""
    probe = f"import sys; sys.path.insert(0, {str(ROOT)!r}); {code}; print(' '.join(sorted(sys.modules)))"
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT)
    return set(run.stdout.split())


def test_leaving_a_command_that_never_ran_the_sdk_does_not_import_asyncio():
    modules = _imported_after("import review.__main__ as command; command._close_event_loop()")
    assert "asyncio" not in modules
    assert "pulumi" not in modules


def test_leaving_after_the_sdk_ran_closes_its_event_loop():
    code = (
        "import asyncio; loop = asyncio.new_event_loop(); asyncio.set_event_loop(loop); "
        "import review.__main__ as command; command._close_event_loop(); assert loop.is_closed(), 'still open'"
    )
    assert "asyncio" in _imported_after(code)
