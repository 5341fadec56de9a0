"""`review plan` and `review diff` against their floor, side by side in one run, at 1 and at 50 apps.

The floor is what no offline plan can avoid: a fresh interpreter importing the same SDKs and registering the
same resources (the plan's own types, names, parents and inputs, components included) under the SDK's own
mock engine. For each estate size the script times, alternating so load on the machine hits all alike:

- `python -m review plan` (wall time and peak RSS of the process), and the same plan on the SDK's own
  per-registration path (REVIEW_PLAN_SDK_PATH=1: without review/engine_shortcuts.py, whose shortcuts the floors
  do not take), to show what the shortcuts are worth,
- the floor (wall time and peak RSS): plain dicts on bare `pulumi.CustomResource`, the issue's floor;
- the typed floor: the same resources through the SDK classes the plan uses (TYPED_FLOOR below), what any
  program declaring them through the SDK pays; reported beside the floor, never instead of it;
- the same count of resources with one small input each, the cheapest reading of "the same number of
  resources",
- `python -m review diff --base HEAD` (plans both revisions; no change) and `--base HEAD~1` (one alert summary
  changed in one app file, so the two sides' policy models differ) against one plan.

Each round runs its commands in its own order (drawn from a fixed seed): on this host a command started right after
`review diff` runs slower, and in one fixed order the plan always came right after the diffs.

Both sides run as they would installed: the project copy is byte-compiled first, as pip compiles the SDKs the
floor imports (without it, PYTHONDONTWRITEBYTECODE, set on some machines, makes every plan compile the
project's ~50 modules from source while the floor reads the SDKs' bytecode); and the floor runs with the same
garbage-collector thresholds as `review plan` (review/__main__.py GC_THRESHOLDS) and leaves the same way,
without tearing the interpreter down (`_leave`), so these settings, which speed up any program, lower the floor
too instead of flattering the ratio (a revision from before them is measured with the defaults on both sides).
`review diff` still compiles the base revision it exports: that is part of what a diff costs. CPU seconds
(user + system, children included) are printed beside wall times: on a shared machine they move less.
Figures and what they mean: docs/performance.md.

Usage: .venv/bin/python bench/plan_floor.py [--runs 5] [--apps 1 50]
An estate of under 10 apps gets three times `--runs` rounds: each command is then under a second, where this
host's noise (tens of milliseconds either way) is largest against what is measured, and a round costs little.
Targets (issue 12): plan <= 1.25x floor at 1 and 50 apps, peak memory <= 1.25x the floor's, diff <= 1.3x plan.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# The plan's collector setting and way of leaving (the bench runs from bench/, they live in review/); the
# defaults where a revision from before them is benchmarked, so each floor runs as its plan does.
_COMMAND = importlib.import_module("review.__main__")
GC_THRESHOLDS = getattr(_COMMAND, "GC_THRESHOLDS", gc.get_threshold())

PROJECT_PARTS = (
    "alert_policies", "runbooks", "dashboards", "components", "model", "providers", "review", "schemas", "policy_pack",
)
PROJECT_FILES = ("__main__.py", "Pulumi.yaml", "Pulumi.prod.yaml", "Pulumi.staging.yaml")
SDKS = "pulumi, pulumi_pagerduty, pulumi_random, pulumiverse_grafana"
SDK_PACKAGES = ("pulumi", "pulumi_pagerduty", "pulumi_random", "pulumiverse_grafana")
# Run the plan in-process and list the SDK modules it imported (the SDKs load their resource modules lazily,
# so `import pulumi_pagerduty` alone would be a floor lower than any program using it).
# It also names the SDK class behind each type token it registered (what the typed floor declares): the token is
# passed by the class's constructor to `CustomResource.__init__`, so that is where it is read.
LIST_MODULES = f"""
import contextlib, io, json, sys
import pulumi
classes = {{}}
custom_init = pulumi.CustomResource.__init__
def noting_the_class(self, t, *args, **kwargs):
    if type(self).__module__.split(".")[0] in {SDK_PACKAGES!r}:
        classes[t] = [type(self).__module__, type(self).__qualname__]
    custom_init(self, t, *args, **kwargs)
pulumi.CustomResource.__init__ = noting_the_class
from review.__main__ import main
with contextlib.redirect_stdout(io.StringIO()):
    main(["plan"])
modules = sorted(m for m in sys.modules if m.split(".")[0] in {SDK_PACKAGES!r})
print(json.dumps({{"modules": modules, "classes": classes}}))
"""

# The floor program: the SDK imports, then the plan's resources (from its JSON) registered under pulumi's own
# mocks with their types, names, parents and inputs.
# Both floors leave as `review plan` does (review/__main__.py _leave): without tearing the interpreter down.
LEAVE = "import os; sys.stdout.flush(); os._exit(0)" if hasattr(_COMMAND, "_leave") else ""

# How both floors start: the plan's collector setting, every SDK module the plan's run imported (argv[2]), and mocks
# that answer every registration with an id and no outputs.
FLOOR_START = f"""
import gc, importlib, json, sys
gc.set_threshold(*{GC_THRESHOLDS!r})
import {SDKS}
import pulumi
listed = json.load(open(sys.argv[2]))
for module in listed["modules"]:
    importlib.import_module(module)

class Mocks(pulumi.runtime.Mocks):
    def new_resource(self, args):
        return args.name + "-id", {{}}
    def call(self, args):
        return {{}}, []
"""

FLOOR = FLOOR_START + f"""
plan = json.load(open(sys.argv[1]))
pulumi.runtime.set_mocks(Mocks(), project="floor", stack="floor", preview=True)

def program():
    made = {{}}
    for item in plan["resources"]:  # tree order: parents come first
        opts = pulumi.ResourceOptions(parent=made.get(item["parent"]), protect="protected" in item["flags"])
        if item["component"]:
            made[item["urn"]] = pulumi.ComponentResource(item["type"], item["name"], None, opts)
        else:
            made[item["urn"]] = pulumi.CustomResource(item["type"], item["name"], item["inputs"], opts)

from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await
_sync_await(run_pulumi_func(program))
{LEAVE}
"""

# The typed floor: the same resources declared through the SDK classes the plan uses (`pulumi_pagerduty.Service`,
# `pulumiverse_grafana.alerting.RuleGroup`, ...; a dynamic resource through `pulumi.dynamic.Resource` with the
# same module and name and a provider that does nothing; a component as `ComponentResource`), with the plan's
# inputs as plain values (wire names turned back into the classes' keyword arguments; nested values as dicts,
# which the SDK translates through the input types), parents, protect flags, secret outputs and import ids. It is
# what any program declaring these resources through the SDK pays, without the Output wiring between resources
# that the plan's program has (every input here is already known). Like the plan, it records a placeholder
# instead of pickling each dynamic provider (review/engine.py _providers_not_pickled).
TYPED_FLOOR = FLOOR_START + f"""
import inspect, re
import pulumi.dynamic
from pulumi.dynamic import dynamic as pulumi_dynamic

class NothingProvider(pulumi.dynamic.ResourceProvider):
    pass

def python_name(wire):
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\\1", wire).lower()

def python_values(value):
    if isinstance(value, dict):
        return {{python_name(k): python_values(v) for k, v in value.items()}}
    if isinstance(value, list):
        return [python_values(v) for v in value]
    return value

def keyword_arguments(cls, inputs):
    accepted = set(inspect.signature(cls._internal_init).parameters)
    kwargs = {{}}
    for wire, value in inputs.items():
        name = python_name(wire)
        name = name if name in accepted else name + "_"
        if name not in accepted:
            raise SystemExit(f"{{cls.__name__}} takes no argument for input {{wire}}")
        kwargs[name] = python_values(value)
    return kwargs

dynamic_classes = {{}}
def dynamic_class(token):
    if token not in dynamic_classes:
        module, name = token.split("/", 1)[1].split(":")
        dynamic_classes[token] = type(name, (pulumi.dynamic.Resource,), {{}}, module=module, name=name)
    return dynamic_classes[token]

def sdk_class(token):
    module, qualname = listed["classes"][token]
    return getattr(importlib.import_module(module), qualname)

plan = json.load(open(sys.argv[1]))
pulumi.runtime.set_mocks(Mocks(), project="floor", stack="floor", preview=True)
pulumi_dynamic.serialize_provider = lambda provider: "(provider)"

def program():
    made = {{}}
    for item in plan["resources"]:  # tree order: parents come first
        opts = pulumi.ResourceOptions(
            parent=made.get(item["parent"]), protect="protected" in item["flags"],
            additional_secret_outputs=item["secret_outputs"] or None, import_=item["import_id"])
        token = item["type"]
        if item["component"]:
            resource = pulumi.ComponentResource(token, item["name"], None, opts)
        elif token.startswith("pulumi-python:dynamic/"):
            props = {{k: v for k, v in item["inputs"].items() if k != "__provider"}}
            resource = dynamic_class(token)(NothingProvider(), item["name"], props, opts)
        else:
            cls = sdk_class(token)
            resource = cls(item["name"], opts, **keyword_arguments(cls, item["inputs"]))
        made[item["urn"]] = resource

from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await
_sync_await(run_pulumi_func(program))
{LEAVE}
"""

# The cheapest reading: as many component and custom resources, each with one small input.
SMALL_FLOOR = f"""
import gc, sys
gc.set_threshold(*{GC_THRESHOLDS!r})
import {SDKS}
import pulumi

class Mocks(pulumi.runtime.Mocks):
    def new_resource(self, args):
        return args.name + "-id", dict(args.inputs)
    def call(self, args):
        return {{}}, []

components, customs = int(sys.argv[1]), int(sys.argv[2])
pulumi.runtime.set_mocks(Mocks(), project="floor", stack="floor", preview=True)

def program():
    parents = [pulumi.ComponentResource("floor:index:Group", f"group-{{i}}") for i in range(max(components, 1))]
    for i in range(customs):
        pulumi.CustomResource("floor:index:Thing", f"thing-{{i}}", {{"value": i}},
                              opts=pulumi.ResourceOptions(parent=parents[i % len(parents)]))

from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await
_sync_await(run_pulumi_func(program))
{LEAVE}
"""


def run(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> tuple[float, int, str, float]:
    """Wall seconds, peak RSS (KiB), stdout and CPU seconds (user + system) of one run of `command`."""
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                               env=None if env is None else {**os.environ, **env})
    out = process.stdout.read() if process.stdout else ""
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed with exit {process.returncode}")
    return elapsed, usage.ru_maxrss, out, usage.ru_utime + usage.ru_stime


def project_with_apps(apps: int, target: Path) -> Path:
    """A copy of the project whose policies hold `apps` apps (copies of careflex.yaml with their own ids)."""
    target.mkdir()
    for part in PROJECT_PARTS:
        shutil.copytree(ROOT / part, target / part, ignore=shutil.ignore_patterns("__pycache__"))
    for name in PROJECT_FILES:
        if (ROOT / name).exists():
            shutil.copy(ROOT / name, target / name)
    template = (ROOT / "alert_policies/apps/careflex.yaml").read_text()
    for n in range(1, apps):
        app = f"bench{n:02d}"
        text = (
            template.replace("id: careflex\n", f"id: {app}\n", 1)
            .replace("app: careflex\n", f"app: {app}\n", 1)
            .replace("postgres_app: careflex-db", f"postgres_app: {app}-db", 1)
            .replace("url: https://careflex.fly.dev", f"url: https://{app}.fly.dev", 1)
            .replace("project: careflex\n", f"project: {app}\n", 1)
            .replace('pagerduty_service: "200001"', f'pagerduty_service: "{300000 + n}"', 1)
        )
        (target / "alert_policies/apps" / f"{app}.yaml").write_text(text)
    # Bytecode, as an installed package has (see the module docstring); __pycache__ stays out of git.
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(target)], check=True, stdout=subprocess.DEVNULL)
    (target / ".gitignore").write_text("__pycache__/\n", encoding="utf-8")
    for command in (["git", "init", "-q"], ["git", "add", "-A"],
                    ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.invalid", "commit", "-qm", "x"]):
        subprocess.run(command, cwd=target, check=True, stdout=subprocess.DEVNULL)
    return target


def commit_one_policy_change(project: Path) -> None:
    """A second commit that changes one alert's summary in one app file: `--base HEAD~1` is then a diff with one
    policy change (the two sides' policy models differ), `--base HEAD` one with none."""
    app_file = sorted((project / "alert_policies/apps").glob("*.yaml"))[0]
    text = app_file.read_text(encoding="utf-8")
    changed = re.sub(r"(\n\s+summary: [^\n]*)", r"\1 (edited)", text, count=1)
    if changed == text:
        raise SystemExit(f"{app_file}: no alert summary to change")
    app_file.write_text(changed, encoding="utf-8")
    for command in (["git", "add", "-A"],
                    ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.invalid", "commit", "-qm", "y"]):
        subprocess.run(command, cwd=project, check=True, stdout=subprocess.DEVNULL)


def plan_json(project: Path, target: Path) -> tuple[int, int, int]:
    """Write the plan's JSON to `target`; return (components, custom resources, total) it registers."""
    out = run([sys.executable, "-m", "review", "plan", "--format", "json"], project)[2]
    target.write_text(out, encoding="utf-8")
    plan = json.loads(out)
    components = plan["totals"]["components"]
    customs = plan["totals"]["resources"]
    return components, customs, components + customs


# Estates smaller than this get three times the rounds (module docstring).
SMALL_ESTATE = 10
# The rounds' orders are drawn from this seed: the same in every run of the bench (see measure).
ROUND_ORDER_SEED = 6
# The target ratios, also taken round by round (see measure).
PAIRED = {"plan_vs_floor": ("plan", "floor"), "diff_vs_plan": ("diff", "plan"), "diff1_vs_plan": ("diff1", "plan")}


def measure(apps: int, runs: int) -> dict[str, float]:
    """Median times and peak memory of plan, floor and diff for an estate of `apps` apps."""
    with tempfile.TemporaryDirectory(prefix=f"bench-{apps}-") as tmp:
        project = project_with_apps(apps, Path(tmp) / "project")
        commit_one_policy_change(project)
        plan_file = Path(tmp) / "plan.json"
        components, customs, total = plan_json(project, plan_file)
        modules_file = Path(tmp) / "modules.json"
        modules_file.write_text(run([sys.executable, "-c", LIST_MODULES], project)[2], encoding="utf-8")
        samples: dict[str, list[tuple[float, int, float]]] = {
            "plan": [], "sdkpath": [], "floor": [], "typed": [], "small": [], "diff": [], "diff1": []
        }
        commands = {
            "plan": [sys.executable, "-m", "review", "plan"],
            "sdkpath": [sys.executable, "-m", "review", "plan"],
            "floor": [sys.executable, "-c", FLOOR, str(plan_file), str(modules_file)],
            "typed": [sys.executable, "-c", TYPED_FLOOR, str(plan_file), str(modules_file)],
            "small": [sys.executable, "-c", SMALL_FLOOR, str(components), str(customs)],
            "diff": [sys.executable, "-m", "review", "diff", "--base", "HEAD"],
            "diff1": [sys.executable, "-m", "review", "diff", "--base", "HEAD~1"],
        }
        # The plan without its engine shortcuts (review/engine.py SDK_PATH_ENV): the SDK's own per-registration
        # path, the one the floors take. A revision from before the switch ignores it (then it equals the plan).
        envs = {"sdkpath": {"REVIEW_PLAN_SDK_PATH": "1"}}
        # Each round in its own order: whatever runs right after `review diff` (two cores busy) is slowed on this
        # host, by ~15 % at 1 app (round 6); in a fixed order the plan always came right after the diffs.
        shuffled = random.Random(ROUND_ORDER_SEED)  # noqa: S311 - an order of commands, not a secret
        for _ in range(runs):
            for name in shuffled.sample(list(commands), len(commands)):
                elapsed, peak, _, cpu = run(commands[name], project, envs.get(name))
                samples[name].append((elapsed, peak, cpu))
    result: dict[str, float] = {"apps": apps, "resources": total}
    for name, values in samples.items():
        result[f"{name}_s"] = statistics.median(v[0] for v in values)
        result[f"{name}_peak_mib"] = max(v[1] for v in values) / 1024
        result[f"{name}_cpu"] = statistics.median(v[2] for v in values)
    # The same ratios taken within each round (its commands ran back to back) and then the median of those: the
    # machine's speed drifts over minutes on a shared host, which moves medians taken per command apart.
    for key, (top, bottom) in PAIRED.items():
        result[f"paired_{key}"] = statistics.median(
            t[0] / b[0] for t, b in zip(samples[top], samples[bottom], strict=True))
        result[f"paired_{key}_cpu"] = statistics.median(
            t[2] / b[2] for t, b in zip(samples[top], samples[bottom], strict=True))
    result["plan_vs_floor"] = result["plan_s"] / result["floor_s"]
    result["plan_peak_vs_floor"] = result["plan_peak_mib"] / result["floor_peak_mib"]
    result["plan_vs_typed"] = result["plan_s"] / result["typed_s"]
    result["plan_vs_typed_cpu"] = result["plan_cpu"] / result["typed_cpu"]
    result["plan_peak_vs_typed"] = result["plan_peak_mib"] / result["typed_peak_mib"]
    result["diff_vs_plan"] = result["diff_s"] / result["plan_s"]
    result["diff1_vs_plan"] = result["diff1_s"] / result["plan_s"]
    result["diff1_vs_plan_cpu"] = result["diff1_cpu"] / result["plan_cpu"]
    result["plan_vs_small"] = result["plan_s"] / result["small_s"]
    result["plan_vs_floor_cpu"] = result["plan_cpu"] / result["floor_cpu"]
    result["sdkpath_vs_floor_cpu"] = result["sdkpath_cpu"] / result["floor_cpu"]
    result["diff_vs_plan_cpu"] = result["diff_cpu"] / result["plan_cpu"]
    return result


def main() -> None:
    """Print one block per estate size: medians, peaks and the ratios the targets are about."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--apps", type=int, nargs="+", default=[1, 50])
    args = parser.parse_args()
    for apps in args.apps:
        rounds = args.runs * 3 if apps < SMALL_ESTATE else args.runs
        r = measure(apps, rounds)
        print(f"{apps} app(s), {r['resources']} registrations (resources + components), median of {rounds}:")
        for name, label, note in (("plan", "review plan", ""),
                                  ("sdkpath", "  SDK path ", " (the plan without its engine shortcuts)"),
                                  ("floor", "floor      ", " (same resources and inputs)"),
                                  ("typed", "typed floor", " (same resources through the SDK classes)"),
                                  ("small", "small floor", " (same count, one small input)"),
                                  ("diff", "review diff", " (nothing changed; largest process)"),
                                  ("diff1", "diff, 1 chg", " (one alert summary changed; largest process)")):
            print(f"  {label} {r[f'{name}_s']:6.2f} s  cpu {r[f'{name}_cpu']:6.2f} s  "
                  f"peak {r[f'{name}_peak_mib']:6.1f} MiB{note}")
        print(f"  plan/floor {r['plan_vs_floor']:.2f} (target 1.25)  plan peak/floor peak "
              f"{r['plan_peak_vs_floor']:.2f} (target 1.25)  diff/plan {r['diff_vs_plan']:.2f} (target 1.3)  "
              f"plan/small floor {r['plan_vs_small']:.2f}")
        print(f"  by CPU time: plan/floor {r['plan_vs_floor_cpu']:.2f}  diff/plan {r['diff_vs_plan_cpu']:.2f}")
        print(f"  the plan on the SDK's own path: {r['sdkpath_vs_floor_cpu']:.2f}x the floor's CPU")
        print(f"  with one policy change: diff/plan {r['diff1_vs_plan']:.2f} wall (target 1.3), "
              f"{r['diff1_vs_plan_cpu']:.2f} CPU")
        print(f"  paired (median of the ratios within each round), wall / CPU: plan/floor "
              f"{r['paired_plan_vs_floor']:.2f} / {r['paired_plan_vs_floor_cpu']:.2f}  diff/plan "
              f"{r['paired_diff_vs_plan']:.2f} / {r['paired_diff_vs_plan_cpu']:.2f}  diff (1 change)/plan "
              f"{r['paired_diff1_vs_plan']:.2f} / {r['paired_diff1_vs_plan_cpu']:.2f}")
        print(f"  against the typed floor: plan/typed floor {r['plan_vs_typed']:.2f} wall, "
              f"{r['plan_vs_typed_cpu']:.2f} CPU  plan peak/typed floor peak {r['plan_peak_vs_typed']:.2f}")


if __name__ == "__main__":
    main()
