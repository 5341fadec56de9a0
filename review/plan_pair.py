"""Plan several project trees at once, each with its own project code, sharing the SDK imports.

`review diff` plans the base revision and the working tree. Two fresh interpreters pay the SDK imports twice;
here the SDKs are imported once and each tree runs its own `review plan` in a process forked from that
interpreter (in turn, in this one, where there is no fork), after every module of the project's own packages
has been dropped: nothing of one revision's code (model, components, providers, review) reaches the other's.
The trees are planned side by side, so on two cores the pair takes about as long as its larger plan.

Run as a script (never imported from the packages it unloads):
    python review/plan_pair.py STACK DIR [DIR ...]   → JSON list of {"code", "stdout", "stderr"} per DIR
    python review/plan_pair.py -                     → the same, with the stack and the DIRs read from stdin as
                                                       one JSON line {"stack": ..., "trees": [...]} once the SDKs
                                                       are imported (`review diff` starts the planner before it
                                                       has even read its arguments, and names the trees when it
                                                       has exported the base)
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib
import io
import json
import os
import sys
import tempfile
import traceback

# Top-level packages of the project itself: reloaded from each tree. Everything else is shared.
PROJECT_PACKAGES = frozenset({"model", "components", "providers", "review", "policy_pack"})


def _drop_project_modules() -> None:
    for name in list(sys.modules):
        if name.split(".", 1)[0] in PROJECT_PACKAGES:
            del sys.modules[name]


def plan_tree(directory: str, stack: str) -> dict[str, object]:
    """Run that tree's own `review plan --format json` in this interpreter; its exit code and output."""
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
    except Exception:  # reported like a crashed `review plan` process: exit 1 and the traceback
        code = 1
        err.write(traceback.format_exc())
    finally:
        os.chdir(previous)
        sys.path.remove(directory)
        # `review plan` closes the SDK's event loop when it is done; the next tree needs a fresh one.
        asyncio.set_event_loop(asyncio.new_event_loop())
    return {"code": code, "stdout": out.getvalue(), "stderr": err.getvalue()}


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


def plan_forked(directories: list[str], stack: str) -> list[dict[str, object]]:
    """Plan each tree in its own child of this interpreter, all at once; their results in order."""
    _import_shared()
    children = []
    for directory in directories:
        handle, path = tempfile.mkstemp(prefix="plan-pair-", suffix=".json")
        os.close(handle)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the child: plan, write the result, and leave without running the parent's exit handlers
            status = 1
            try:
                outcome = plan_tree(directory, stack)
                with open(path, "w", encoding="utf-8") as file:
                    json.dump(outcome, file)
                status = 0
            finally:
                os._exit(status)
        children.append((pid, path))
    results = []
    for pid, path in children:
        _, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status)
        try:
            if code == 0:
                with open(path, encoding="utf-8") as file:
                    results.append(json.load(file))
            else:  # reported like a crashed `review plan` process
                results.append({"code": 1, "stdout": "", "stderr": f"its planning process ended with exit code {code}"})
        finally:
            os.unlink(path)
    return results


def main(argv: list[str]) -> int:
    """Plan each directory; print one JSON list of results."""
    gc.set_threshold(10_000, 10, 10)  # as `review plan` does (review/__main__.py GC_THRESHOLDS)
    if argv == ["-"]:
        if hasattr(os, "fork"):
            _import_shared()  # while the caller gets the trees ready
        request = json.loads(sys.stdin.readline() or "{}")  # nothing: the caller gave up (it has exited)
        stack, directories = request.get("stack", ""), list(request.get("trees", []))
    else:
        stack, directories = argv[0], argv[1:]
    if hasattr(os, "fork") and len(directories) > 1:
        results = plan_forked(directories, stack)
    else:
        results = [plan_tree(directory, stack) for directory in directories]
    sys.stdout.write(json.dumps(results))
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
