"""Plan several project trees in one interpreter, each with its own project code, sharing only the SDK imports.

`review diff` plans the base revision and the working tree. Two fresh interpreters pay the SDK imports
(most of a plan's time) twice; here each tree runs its own `review plan` after every module of the project's
own packages has been dropped, so nothing of one revision's code (model, components, providers, review)
leaks into the other's, while pulumi, the provider SDKs, yaml and jsonschema stay loaded.

Run as a script (never imported from the packages it unloads):
    python review/plan_pair.py STACK DIR [DIR ...]   → JSON list of {"code", "stdout", "stderr"} per DIR
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import io
import json
import os
import sys
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


def main(argv: list[str]) -> int:
    """Plan each directory in turn; print one JSON list of results."""
    stack, directories = argv[0], argv[1:]
    results = [plan_tree(directory, stack) for directory in directories]
    sys.stdout.write(json.dumps(results))
    return 0


if __name__ == "__main__":
    # Run as a script, Python puts review/ itself first on the path: its modules must not shadow anything.
    if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
        sys.path.pop(0)
    sys.exit(main(sys.argv[1:]))
