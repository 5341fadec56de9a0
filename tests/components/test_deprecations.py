"""No deprecated resource or input reaches a real preview: read from the pinned SDKs, not from a list we keep."""

from __future__ import annotations

import importlib
import inspect
import logging
import re
import subprocess
import sys
import warnings
from functools import cache
from pathlib import Path
from types import ModuleType

import pulumi
import pytest
from pulumi.type_token import _PULUMI_TYPE

from tests.components.conftest import declare
from tests.conftest import ROOT

# The SDK packages whose resources the estate declares (dynamic providers are ours, under providers/).
SDK_PACKAGES = ("pulumi_pagerduty", "pulumiverse_grafana")
# "`Schedule` manages the legacy schedule (now deprecated)": how a newer resource's page retires an older one.
_RETIRED_BY_NEIGHBOUR = re.compile(r"`(?P<name>[A-Z]\w*)`[^`.]*\(now deprecated\)")
_CLASS_WARNS = r"class {name}\(pulumi\.CustomResource\):\s+warnings\.warn\("
_DEPRECATED_PARAM = re.compile(r":param [^:]+ (?P<name>\w+): \(Deprecated\)")
_DEPRECATED_GETTER = re.compile(r"@_utilities\.deprecated\([^)]*\)\s+@pulumi\.getter(?:\(name=\"\w+\"\))?\s+def (\w+)")


def _package_modules(package: str) -> list[ModuleType]:
    root = importlib.import_module(package)
    directory = Path(root.__file__).parent
    modules = []
    for path in sorted(directory.rglob("*.py")):
        dotted = ".".join((package, *path.relative_to(directory).with_suffix("").parts))
        dotted = dotted.removesuffix(".__init__")
        if "config" in dotted.split(".") or dotted.endswith(("_inputs", "outputs", "_utilities", "_enums")):
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            modules.append(importlib.import_module(dotted))
    return modules


@cache
def sdk_resource_classes() -> dict[str, type]:
    """Every resource class of the SDK packages, by type token."""
    found: dict[str, type] = {}
    for package in SDK_PACKAGES:
        for module in _package_modules(package):
            for _, klass in inspect.getmembers(module, inspect.isclass):
                token = getattr(klass, _PULUMI_TYPE, None)
                if token and issubclass(klass, pulumi.CustomResource) and klass.__module__ == module.__name__:
                    found[token] = klass
    return found


@cache
def _retired_names() -> frozenset[tuple[str, str]]:
    """(package, class name) pairs some other resource's documentation calls deprecated."""
    retired = set()
    # The retirement is written in the newer resource's documentation (its constructor docstring).
    for klass in sdk_resource_classes().values():
        package = klass.__module__.split(".")[0]
        for match in _RETIRED_BY_NEIGHBOUR.finditer(inspect.getsource(sys.modules[klass.__module__])):
            retired.add((package, match["name"]))
    return frozenset(retired)


def deprecation_of_resource(token: str) -> str | None:
    """Why the SDK calls the resource with this type token deprecated, or None."""
    klass = sdk_resource_classes()[token]
    source = inspect.getsource(sys.modules[klass.__module__])
    if re.search(_CLASS_WARNS.format(name=klass.__name__), source):
        return f"{klass.__name__} warns DeprecationWarning when used"
    if (klass.__module__.split(".")[0], klass.__name__) in _retired_names():
        return f"{klass.__name__} is called deprecated (legacy) by the provider's documentation"
    return None


def deprecated_inputs(token: str) -> frozenset[str]:
    """Top-level inputs (snake_case) the SDK documents or decorates as deprecated for this resource."""
    klass = sdk_resource_classes()[token]
    source = inspect.getsource(sys.modules[klass.__module__])
    args_class = f"class {klass.__name__}Args:"
    start = source.find(args_class)
    end = source.find("\nclass ", start + 1)
    args_source = source[start:end] if start >= 0 else ""
    return frozenset(m["name"] for m in _DEPRECATED_PARAM.finditer(args_source)) | frozenset(
        _DEPRECATED_GETTER.findall(args_source)
    )


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


@pytest.fixture(scope="module")
def declared_with_logs():
    """The whole estate declared afresh, with every engine diagnostic and Python warning it raised."""
    logger = logging.getLogger()
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    # Import-time warnings of retired alpha modules the estate never uses are the last test's subject; load the
    # lazily imported SDK packages first so that only warnings raised by declaring resources are recorded here.
    sdk_resource_classes()
    handler = Keep(level=logging.WARNING)
    logger.addHandler(handler)
    try:
        with warnings.catch_warnings(record=True) as caught:
            # Scoped to the SDKs and our code: a deprecated class or argument warns when it is used.
            warnings.simplefilter("always", DeprecationWarning)
            recording = declare(ROOT)
    finally:
        logger.removeHandler(handler)
    return recording, records, caught


def test_the_sdk_reader_sees_the_deprecations_it_must_catch():
    # Guards the reader itself: these are deprecated in the pinned pulumi_pagerduty 4.37.0.
    assert deprecation_of_resource("pagerduty:index/schedule:Schedule")
    assert deprecation_of_resource("grafana:alerting/recordingRuleV0Alpha1:RecordingRuleV0Alpha1")
    assert deprecation_of_resource("pagerduty:index/schedulev2:Schedulev2") is None
    assert {"alert_creation", "alert_grouping", "response_play"} <= deprecated_inputs(
        "pagerduty:index/service:Service"
    )


def test_no_resource_the_estate_declares_is_deprecated_in_the_pinned_sdks(declared_with_logs):
    recording, _, _ = declared_with_logs
    sdk_types = {r.type for r in recording.registrations if r.custom and r.type in sdk_resource_classes()}
    assert sdk_types, "the estate declares SDK resources"
    assert {t: deprecation_of_resource(t) for t in sdk_types if deprecation_of_resource(t)} == {}


def test_no_input_the_estate_sets_is_deprecated_in_the_pinned_sdks(declared_with_logs):
    recording, _, _ = declared_with_logs
    offending = {
        f"{r.name}.{_snake(key)}"
        for r in recording.registrations
        if r.custom and r.type in sdk_resource_classes()
        for key in r.inputs
        if _snake(key) in deprecated_inputs(r.type)
    }
    assert offending == set()


def test_declaring_the_estate_raises_no_deprecation_warning_or_diagnostic(declared_with_logs):
    _, records, caught = declared_with_logs
    ours = [
        w
        for w in caught
        if issubclass(w.category, DeprecationWarning)
        and any(part in w.filename for part in (*SDK_PACKAGES, str(ROOT / "components"), str(ROOT / "providers")))
    ]
    assert [str(w.message) for w in ours] == []
    assert [r.getMessage() for r in records if "deprecat" in r.getMessage().lower()] == []


def test_the_grafana_sdks_import_time_deprecation_warnings_stay_silent_under_default_filters():
    # pulumiverse_grafana.alerting imports every submodule, and three retired alpha resources warn at import
    # (the estate declares none of them: the tests above prove it).
    # Python's default filters ignore DeprecationWarning outside __main__, and the Pulumi language host runs
    # the program with default filters: the warning never reaches `pulumi preview` (nor is it a diagnostic).
    # The SDK packages are lazy modules: the first attribute access runs their __init__ and its imports.
    program = "import pulumiverse_grafana as g, pulumi_pagerduty as p; g.alerting.RuleGroup, p.Schedulev2"
    quiet = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True, env={})
    assert quiet.stderr == ""
    loud = subprocess.run(
        [sys.executable, "-W", "always::DeprecationWarning", "-c", program], capture_output=True, text=True, env={}
    )
    assert "RecordingRuleV0Alpha1 has been deprecated" in loud.stderr
