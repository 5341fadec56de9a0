"""Plan several project trees at once, each with its own project code, sharing the SDK imports.

`review diff` plans the base revision and the working tree. Two fresh interpreters pay the SDK imports twice;
here the SDKs are imported once and each tree runs its own `review plan` in a process forked from that
interpreter (in turn, in this one, where there is no fork), after every module of the project's own packages
has been dropped: nothing of one revision's code (model, components, providers, review) reaches the other's.
The trees are planned side by side, so on two cores the pair takes about as long as its larger plan.

Run as a script (never imported from the packages it unloads):
    python review/plan_pair.py STACK DIR [DIR ...]   → JSON list of {"code", "stdout", "stderr"} per DIR
    python review/plan_pair.py -                     → reads one JSON line {"stack", "trees", "results",
                                                       "policy_models"} once the SDKs are imported (`review diff`
                                                       starts the planner before it has even read its arguments,
                                                       and names the trees when it has exported the base), and
                                                       writes each tree's outcome into the caller's `results`
                                                       directory (below), printing {"tree": i} as each is done
What `-` writes for tree i, in RESULTS: `i.stdout`, the plan's output as it is (the diff parses it once; no JSON
inside JSON), then `i.json`, {"code", "stderr"}, written last: a tree is done when its `i.json` exists. When
`policy_models[i]` is true and the plan succeeded, also `i.estate`: the policy model the plan loaded, pickled, so
the diff need not read the same files again (it asks only for trees whose loader code is its own,
review/diff.py `_same_loader`).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib
import io
import json
import os
import pickle
import sys
import tempfile
import traceback
from pathlib import Path

# Top-level packages of the project itself: reloaded from each tree. Everything else is shared.
PROJECT_PACKAGES = frozenset({"model", "components", "providers", "review", "policy_pack"})


def _drop_project_modules() -> None:
    for name in list(sys.modules):
        if name.split(".", 1)[0] in PROJECT_PACKAGES:
            del sys.modules[name]


def plan_tree(directory: str, stack: str, policy_model: Path | None = None) -> dict[str, object]:
    """Run that tree's own `review plan --format json` in this interpreter; its exit code and output.

    With `policy_model`, a successful plan also leaves there the policy model it loaded (`_keep_policy_model`).
    """
    _drop_project_modules()
    sys.path.insert(0, directory)
    previous = os.getcwd()
    os.chdir(directory)
    importlib.invalidate_caches()
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            command = importlib.import_module("review.__main__")
            code = command.main(["plan", "--format", "json", "--stack", stack, "--project-dir", directory])
        if code == 0 and policy_model is not None:
            _keep_policy_model(directory, stack, policy_model)
    except Exception:  # reported like a crashed `review plan` process: exit 1 and the traceback
        code = 1
        err.write(traceback.format_exc())
    finally:
        os.chdir(previous)
        sys.path.remove(directory)
        # `review plan` closes the SDK's event loop when it is done; the next tree needs a fresh one.
        asyncio.set_event_loop(asyncio.new_event_loop())
    return {"code": code, "stdout": out.getvalue(), "stderr": err.getvalue()}


def _keep_policy_model(directory: str, stack: str, target: Path) -> None:
    """Pickle into `target` the policy model the tree's plan just loaded, or nothing (the caller then reads it).

    The plan validated and loaded the tree's inputs through its own `model.inputs.load_inputs`, which keeps the
    last tree it loaded while its files are unchanged: asking again costs a fingerprint of the files, no parse.
    The caller asks only when the tree's loader code is byte for byte its own, so the pickle names classes it has.
    """
    load_inputs = getattr(sys.modules.get("model.inputs"), "load_inputs", None)
    if load_inputs is None:
        return
    try:
        data = pickle.dumps(load_inputs(Path(directory), stack=stack)[0], protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:  # an unpicklable model is read by the caller instead: slower, never wrong
        return
    partial = target.with_suffix(".partial")
    partial.write_bytes(data)
    partial.replace(target)


def _write_outcome(results: Path, index: int, outcome: dict[str, object]) -> None:
    """Tree `index`'s plan output, then its record (exit code and messages): the record says it is done."""
    (results / f"{index}.stdout").write_text(str(outcome["stdout"]), encoding="utf-8")
    record = results / f"{index}.json"
    partial = record.with_suffix(".partial")
    partial.write_text(json.dumps({"code": outcome["code"], "stderr": outcome["stderr"]}), encoding="utf-8")
    partial.replace(record)


def _announce(index: int) -> None:
    sys.stdout.write(json.dumps({"tree": index}) + "\n")
    sys.stdout.flush()


# What every tree's plan imports whatever its code: loaded before forking, so no child pays for them.
# Not among them: email_validator (model/validators.py imports it only for an address outside the plainest form)
# and jsonschema (model/schema_check.py imports it only for a policy file its compiled predicate finds invalid).
SHARED_IMPORTS = ("pulumi", "pulumi.dynamic", "pulumi.runtime", "pulumi_pagerduty", "pulumi_random",
                  "pulumiverse_grafana", "pulumiverse_grafana.alerting", "pulumiverse_grafana.oss", "yaml",
                  "promql_parser", "zoneinfo")


def _import_shared() -> None:
    for name in SHARED_IMPORTS:
        with contextlib.suppress(ImportError):  # an SDK a tree does not use is simply not shared
            module = importlib.import_module(name)
            # The Grafana SDK's submodules are lazy (pulumi._utils.lazy_import): importing one only registers it,
            # and the first attribute read executes it (~0.1 s), which each child would then do again.
            getattr(module, "__all__", None)


def plan_all(directories: list[str], stack: str, results: Path, policy_models: list[bool]) -> None:
    """Plan each tree into `results`, announcing each as it is done: side by side in children of this
    interpreter where it can fork, else one after the other here."""
    wanted = [results / f"{i}.estate" if i < len(policy_models) and policy_models[i] else None
              for i in range(len(directories))]
    if not hasattr(os, "fork") or len(directories) < 2:
        for index, directory in enumerate(directories):
            _write_outcome(results, index, plan_tree(directory, stack, wanted[index]))
            _announce(index)
        return
    _import_shared()
    children: dict[int, int] = {}
    for index, directory in enumerate(directories):
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the child: plan, write the outcome, and leave without running the parent's exit handlers
            status = 1
            try:
                _write_outcome(results, index, plan_tree(directory, stack, wanted[index]))
                status = 0
            finally:
                os._exit(status)
        children[pid] = index
    while children:  # in the order they finish: the caller may stop at the first failure that decides the outcome
        pid, status = os.wait()
        index = children.pop(pid, None)
        if index is None:
            continue
        code = os.waitstatus_to_exitcode(status)
        if code != 0 or not (results / f"{index}.json").is_file():  # reported like a crashed `review plan` process
            _write_outcome(results, index, {
                "code": 1, "stdout": "", "stderr": f"its planning process ended with exit code {code}"})
        _announce(index)


def main(argv: list[str]) -> int:
    """`-`: plan the trees named on stdin into the caller's directory; else plan the DIRs, print their outcomes."""
    gc.set_threshold(10_000, 10, 10)  # as `review plan` does (review/__main__.py GC_THRESHOLDS)
    if argv == ["-"]:
        if hasattr(os, "fork"):
            _import_shared()  # while the caller gets the trees ready
        request = json.loads(sys.stdin.readline() or "{}")  # nothing: the caller gave up (it has exited)
        if request:
            plan_all(list(request["trees"]), request["stack"], Path(request["results"]),
                     list(request.get("policy_models", [])))
        return 0
    stack, directories = argv[0], argv[1:]
    with tempfile.TemporaryDirectory(prefix="plan-pair-") as tmp:
        with contextlib.redirect_stdout(io.StringIO()):  # the announcements: this form prints the outcomes at the end
            plan_all(directories, stack, Path(tmp), [])
        outcomes = []
        for index in range(len(directories)):
            record = json.loads((Path(tmp) / f"{index}.json").read_text(encoding="utf-8"))
            outcomes.append({**record, "stdout": (Path(tmp) / f"{index}.stdout").read_text(encoding="utf-8")})
    sys.stdout.write(json.dumps(outcomes))
    return 0


if __name__ == "__main__":
    # Run as a script, Python puts review/ itself first on the path: its modules must not shadow anything.
    if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
        sys.path.pop(0)
    status = main(sys.argv[1:])
    if sys.getprofile() is not None or sys.gettrace() is not None:
        sys.exit(status)  # a profiler or coverage writes its results at a normal exit
    # Leave without tearing the interpreter down (as `review plan` does, review/__main__.py _leave): freeing the
    # SDKs' heap object by object takes ~0.2 s, and `review diff` waits for this process to end before it reads
    # the plans. The results are written and flushed; nothing else is open.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
