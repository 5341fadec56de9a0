"""Planning two trees in one interpreter: each runs its own project code, only the SDK imports are shared."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from review.diff import DiffError, plan_trees
from tests.estates import loaded


def _contact_points(plan: dict) -> set[str]:
    return {r["inputs"]["name"] for r in plan["resources"] if r["type"].endswith("contactPoint:ContactPoint")}


def test_each_tree_is_planned_by_its_own_code_whatever_the_order(project_copy: Path, tmp_path: Path):
    other = tmp_path / "other"
    shutil.copytree(project_copy, other, ignore=shutil.ignore_patterns("__pycache__"))
    naming = other / "model/naming.py"
    naming.write_text(naming.read_text().replace('return f"pagerduty-{app_id}"', 'return f"pd-{app_id}"'))

    changed, original = plan_trees([(other, "changed"), (project_copy, "original")], "prod")
    paging = [app.id for app in loaded("shipped").apps if app.oncall and "grafana" in app.oncall.senders]
    assert paging, "the shipped estate pages through Grafana"
    for app_id in paging:
        assert f"pd-{app_id}" in _contact_points(changed) and f"pagerduty-{app_id}" not in _contact_points(changed)
        assert f"pagerduty-{app_id}" in _contact_points(original) and f"pd-{app_id}" not in _contact_points(original)
    # Same fingerprint key for both: equal secrets look equal, so only real changes show.
    assert json.dumps(changed["outputs"]) == json.dumps(original["outputs"])


def test_a_tree_that_cannot_be_planned_is_named_with_its_own_exit_code_and_message(project_copy: Path):
    app_file = loaded("shipped").apps[0].file
    (project_copy / app_file).write_text("kind: app\nid: Bad\n")
    try:
        plan_trees([(project_copy, "the working tree")], "prod")
    except DiffError as err:
        assert err.code == 2 and "the working tree" in str(err) and Path(app_file).name in str(err)
    else:
        raise AssertionError("an invalid tree was planned")


def test_a_tree_whose_planning_process_dies_is_named_alone_and_the_other_is_still_planned(
    project_copy: Path, tmp_path: Path
):
    # Each tree is planned in its own process (forked after the SDK imports): a program that kills its
    # interpreter takes down its own plan only, and the error names that revision, not the pair.
    dying = tmp_path / "dying"
    shutil.copytree(project_copy, dying, ignore=shutil.ignore_patterns("__pycache__"))
    program = dying / "__main__.py"
    program.write_text("import os\nos._exit(7)\n" + program.read_text())

    script = Path(__file__).resolve().parents[2] / "review/plan_pair.py"
    finished = subprocess.run([sys.executable, str(script), "prod", str(dying), str(project_copy)],
                              capture_output=True, text=True, timeout=600, check=True)
    dead, alive = json.loads(finished.stdout)
    assert dead["code"] == 1 and "exit code 7" in dead["stderr"]
    assert alive["code"] == 0 and json.loads(alive["stdout"])["resources"]
    try:
        plan_trees([(dying, "the base"), (project_copy, "the working tree")], "prod")
    except DiffError as err:
        assert "the base" in str(err) and "the working tree" not in str(err)
    else:
        raise AssertionError("a tree whose planning died was reported as planned")


def test_the_diff_reuses_bytecode_for_exactly_the_packages_the_planner_swaps_between_trees():
    # plan_pair runs as a script beside any tree and imports no project code, so it keeps its own list; the diff
    # names the same packages (plus the program) for bytecode reuse. A package added to one must be added to both.
    import review.diff
    import review.plan_pair

    assert set(review.diff._PLANNED_CODE) == {"__main__.py", *review.plan_pair.PROJECT_PACKAGES}


def test_the_planner_is_heard_while_it_writes_more_to_stderr_than_a_pipe_holds():
    from review.diff import _announced_trees

    noisy = ("import sys; sys.stderr.write('x' * 300_000); sys.stderr.flush(); "
             "print('{\"tree\": 1}'); print('{\"tree\": 0}')")
    process = subprocess.Popen([sys.executable, "-c", noisy], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    stderr = bytearray()
    try:
        assert list(_announced_trees(process, stderr, timeout=60)) == [1, 0]
    finally:
        process.wait()
    assert bytes(stderr) == b"x" * 300_000


TREES = [(Path("base"), "the base"), (Path("work"), "the working tree")]


def _deciding(records: dict[int, dict]) -> str | None:
    from review.diff import _raise_deciding_failure

    try:
        _raise_deciding_failure([1, 0], records, TREES)
    except DiffError as err:
        return err.revision
    return None


def test_the_working_trees_failure_decides_at_once_and_a_bases_waits_for_the_working_tree():
    ok, failed = {"code": 0, "stderr": ""}, {"code": 2, "stderr": "problems"}
    assert _deciding({1: failed}) == "the working tree"  # the base still planning
    assert _deciding({0: failed}) is None  # the working tree's verdict comes first: wait for it
    assert _deciding({0: failed, 1: ok}) == "the base"
    assert _deciding({0: failed, 1: failed}) == "the working tree"
    assert _deciding({0: ok}) is None and _deciding({0: ok, 1: ok}) is None
