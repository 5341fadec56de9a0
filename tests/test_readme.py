"""The README's commands are the ones CI and a fresh machine run."""

import re

from tests.conftest import ROOT

SETUP = (
    "python3 -m venv .venv && .venv/bin/pip install -r requirements.txt && .venv/bin/python -m review plan"
)
TEST = "bash scripts/test"


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return [block.strip() for block in re.findall(r"```bash\n(.*?)```", text, re.S)]


def test_the_readme_gives_the_setup_and_plan_command_and_the_test_command_first():
    assert _readme_commands()[:2] == [SETUP, TEST]


def test_ci_runs_exactly_the_readmes_test_command_after_installing_the_requirements():
    steps = [line for line in (ROOT / ".ci/run").read_text().splitlines() if line and not line.startswith("#")]
    assert steps[-1] == TEST
    assert ".venv/bin/pip install --quiet --disable-pip-version-check -r requirements.txt" in steps
