"""The policy model a tree's plan hands to `review diff`: the same model, and a file that can only build data."""

from __future__ import annotations

import io
import os
import pickle
from pathlib import Path

import pytest

from model import specs
from model.inputs import load_inputs
from review.diff import PolicyModelUnpickler, _handed_estate
from review.plan_pair import _keep_policy_model
from tests.estates import STACKS


@pytest.mark.parametrize("name", sorted(STACKS))
def test_every_estate_and_stack_is_handed_over_as_the_model_this_process_reads(name: str, tmp_path: Path):
    root, stack = STACKS[name]
    _keep_policy_model(str(root), stack or "prod", tmp_path / "0.estate")
    assert _handed_estate(tmp_path, 0) == load_inputs(root, stack=stack or "prod")[0]


def test_a_model_that_was_not_handed_over_is_none_so_the_diff_reads_it(tmp_path: Path):
    assert _handed_estate(tmp_path, 0) is None


class _RunsACommand:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return os.system, (f"touch {self.marker}",)


class _ReachesAFunctionsGlobals:
    def __reduce__(self) -> tuple:
        return getattr, (specs.App, "__init__")


@pytest.mark.parametrize("payload", [
    pytest.param(lambda marker: pickle.dumps(_RunsACommand(marker)), id="a function of another module"),
    pytest.param(lambda marker: pickle.dumps(_ReachesAFunctionsGlobals()), id="getattr on a model class"),
    pytest.param(lambda marker: b"cmodel.specs\nApp.__init__\n.", id="a dotted name inside a model class"),
    pytest.param(lambda marker: b"cmodel.naming\nsecret_resource\n.", id="a model function"),
    pytest.param(lambda marker: b"cbuiltins\neval\n.", id="a builtin"),
])
def test_a_pickle_that_names_anything_but_policy_model_data_is_refused(payload, tmp_path: Path):
    marker = tmp_path / "ran"
    with pytest.raises(pickle.UnpicklingError):
        PolicyModelUnpickler(io.BytesIO(payload(marker))).load()
    assert not marker.exists()
    (tmp_path / "0.estate").write_bytes(payload(marker))
    assert _handed_estate(tmp_path, 0) is None and not marker.exists()
