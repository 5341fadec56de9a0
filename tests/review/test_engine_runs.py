"""Running the program under the mock engine many times in one interpreter (tests, `review diff`'s checks)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pulumi.dynamic.dynamic import ResourceProvider, serialize_provider

from tests.bad_input_support import run_plan


class _NothingProvider(ResourceProvider):
    """A dynamic provider with no behaviour: only its pickling matters here."""


def test_a_plan_after_more_dynamic_resources_than_the_recursion_limit_still_plans(project_copy: Path):
    # Each dynamic resource the SDK pickles wraps pickle's dict writer once more (pulumi.dynamic.serialize_provider).
    for _ in range(sys.getrecursionlimit() + 100):
        serialize_provider(_NothingProvider())
    verdict = run_plan(project_copy)
    assert verdict.code == 0, verdict.stderr[-2000:]
    assert json.loads(verdict.stdout)["resources"]
