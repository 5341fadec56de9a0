"""The replace/delete gate over `pulumi preview --json`: parse the digest, find blocking steps, the CLI.

Input format (pulumi/pulumi, read for this module):
- `sdk/pkg/display/json.go` (`PreviewDigest`, `PreviewStep`, `PropertyDiff`) and
  `pkg/backend/display/json.go` (`ShowPreviewDigest`, `getPreviewMetadataStep`, `stateForJSONOutput`,
  `shouldShow`): a document `{"config", "steps": [...], "diagnostics", "duration", "changeSummary",
  "maybeCorrupt"}`; each step is `{"op", "urn", "provider", "oldState", "newState", "diffReasons",
  "replaceReasons", "detailedDiff"}`; `detailedDiff` maps a property path to `{"kind", "inputDiff"}` only
  (no values). By default only logical steps are shown: a replacement appears as one `replace` step, and
  `create-replacement`/`delete-replaced` only with `--show-replacement-steps`; `same` steps only with
  `--show-sames` (or when `protect` changed), the root stack always.
- `sdk/go/common/apitype/core.go` (`ResourceV3`): `oldState`/`newState` carry `urn`, `type`, `inputs`,
  `outputs`, `protect`, `additionalSecretOutputs`, ...
- Step op names: `pkg/resource/deploy/step.go`, mirrored in the Python SDK's
  `pulumi/automation/events.py` `OpType`.
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import field, replace
from pathlib import Path
from typing import Any

from model.patterns import pattern
from model.record import record

EXIT_ALLOWED, EXIT_UNREADABLE, EXIT_BLOCKED, EXIT_PREVIEW_FAILED = 0, 2, 3, 4

# The label a reviewer adds to a pull request to let identity-bearing replaces/deletes through; the
# workflow checks for it and passes --allow-label-present.
ALLOW_LABEL = "allow-identity-change"

KNOWN_OPS = frozenset(
    {
        "same", "create", "update", "delete", "replace", "create-replacement", "delete-replaced",
        "read", "read-replacement", "refresh", "discard", "discard-replaced", "remove-pending-replace",
        "import", "import-replacement",
    }
)
# Ops after which the object that carried the identity (ids, routing keys, DSNs, history) no longer
# exists. `discard`/`discard-replaced` only drop read-only (external) resources from state, and
# `remove-pending-replace` records a delete that already happened in an earlier, interrupted run.
DESTRUCTIVE_OPS = frozenset(
    {"delete", "replace", "create-replacement", "delete-replaced", "read-replacement", "import-replacement"}
)

# With --show-replacement-steps one replacement is three steps (create-replacement, replace, delete-replaced, in
# either order): one logical change of one resource.
REPLACEMENT_OPS = frozenset({"replace", "create-replacement", "delete-replaced"})
# The engine's refusals of protected resources, as it words them (pkg/resource/deploy/step_generator.go,
# step.go; lifecycle golden files TestProtect, TestMultipleProtectedDeletes, TestDBRProtect):
#   resource "<urn>" cannot be deleted because it is protected
#   unable to replace resource "<urn>" as it is currently marked for protection
# With deleteBeforeReplace and a protected dependent no step is listed and the error names the resource being
# replaced. A refused step is not counted in changeSummary.
_REFUSED_DELETE = "cannot be deleted because it is protected"
_REFUSED_PROTECTED = "marked for protection"
_URN_IN_TEXT = pattern(r"urn:pulumi:[^\s\"']+")
# Top-level keys of engine events (sdk/go/common/apitype/events.go `EngineEvent`): what
# PULUMI_ENABLE_STREAMING_JSON_PREVIEW makes `--json` print, one object per line.
EVENT_KEYS = frozenset(
    {
        "cancelEvent", "stdoutEvent", "diagnosticEvent", "preludeEvent", "summaryEvent", "resourcePreEvent",
        "resOutputsEvent", "resOpFailedEvent", "policyEvent", "policyRemediationEvent", "policyLoadEvent",
        "policyAnalyzeSummaryEvent", "policyRemediateSummaryEvent", "policyAnalyzeStackSummaryEvent",
        "startDebuggingEvent", "progressEvent", "errorEvent",
    }
)
_DIGEST_KEYS = frozenset({"steps", "changeSummary"})

# Type tokens whose replacement or deletion loses something that cannot be set back (provider-pitfalls §1).
IDENTITY_TYPES: Mapping[str, str] = {
    "pagerduty:index/service:Service": "service id, incident history and every integration key",
    "pagerduty:index/serviceIntegration:ServiceIntegration": "the routing key, which cannot be set back",
    "grafana:oss/folder:Folder": "the folder and every rule and dashboard in it",
    "grafana:index/folder:Folder": "the folder and every rule and dashboard in it",
    "grafana:oss/dashboard:Dashboard": "the dashboard URL (uid) and version history",
    "grafana:index/dashboard:Dashboard": "the dashboard URL (uid) and version history",
    "pulumi-python:dynamic/sentry:Project": "issue history and the DSN",
    "pulumi-python:dynamic/sentry:ClientKey": "the DSN every app secret holds",
    "pulumi-python:dynamic/fly:AppSecret": "the app secret (a replace can delete the value just written)",
    "pulumi-python:dynamic/uptimerobot:Monitor": "monitor id and uptime history",
    "pulumi-python:dynamic/uptimerobot:StatusPage": "the page's public address (urlKey) and its custom domain's target",
}


class PreviewError(Exception):
    """The preview file cannot be read as a Pulumi preview digest (never quotes the file's content)."""


@record
class ResourceState:
    """One side of a step: `oldState` or `newState` (apitype.ResourceV3)."""

    type: str
    protect: bool
    inputs: Mapping[str, Any]
    outputs: Mapping[str, Any]
    additional_secret_outputs: frozenset[str]


@record
class PropertyDiff:
    """One `detailedDiff` entry: the kind (add, update, delete-replace, ...) and whether inputs were compared."""

    kind: str
    input_diff: bool

    @property
    def replaces(self) -> bool:
        return self.kind.endswith("-replace")


@record
class Step:
    """One step of the preview."""

    op: str
    urn: str
    type: str
    name: str
    old: ResourceState | None
    new: ResourceState | None
    diff_reasons: tuple[str, ...] = ()
    replace_reasons: tuple[str, ...] = ()
    detailed_diff: Mapping[str, PropertyDiff] | None = None
    refused: bool = False  # the engine refused it (protected): the preview failed on this resource

    @property
    def protected(self) -> bool:
        return bool((self.old and self.old.protect) or (self.new and self.new.protect))

    @property
    def identity_bearing(self) -> bool:
        return self.type in IDENTITY_TYPES

    @property
    def destructive(self) -> bool:
        # An op this code does not know is treated as destructive: the gate fails closed.
        return self.refused or self.op in DESTRUCTIVE_OPS or self.op not in KNOWN_OPS

    @property
    def unprotects(self) -> bool:
        return bool(self.old and self.new and self.old.protect and not self.new.protect)

    def changed_paths(self) -> list[str]:
        """Property paths that differ: detailed diff keys, else the top-level diff/replace reasons."""
        if self.detailed_diff:
            return sorted(self.detailed_diff)
        return sorted(set(self.diff_reasons) | set(self.replace_reasons))

    def replace_paths(self) -> list[str]:
        """Property paths that force the replacement."""
        paths = set(self.replace_reasons)
        paths |= {p for p, d in (self.detailed_diff or {}).items() if d.replaces}
        return sorted(paths)


@record
class Preview:
    """The parsed digest."""

    steps: tuple[Step, ...]
    change_summary: Mapping[str, int]
    stack: str | None = None
    project: str | None = None
    diagnostics: Mapping[str, int] = field(default_factory=dict)  # severity -> count; messages are not kept
    maybe_corrupt: bool = False
    # Protected resources the engine refused to replace/delete but for which no step was listed.
    protection_errors: tuple[Step, ...] = ()
    # Why the preview itself failed (never the engine's messages, which can quote values); empty when it passed.
    failures: tuple[str, ...] = ()
    streamed: bool = False  # read from PULUMI_ENABLE_STREAMING_JSON_PREVIEW events, not the digest

    @property
    def failed(self) -> bool:
        return bool(self.failures)

    def changes(self) -> tuple[Step, ...]:
        """One logical step per resource, refusals included: what the counts and the danger list both use."""
        return logical_steps((*self.steps, *self.protection_errors))


@record
class GateResult:
    """The decision: blocking steps, whether the allow label lets them through, and warnings."""

    blocking: tuple[Step, ...]
    allowed_by_label: bool
    unprotecting: tuple[Step, ...]
    preview_failures: tuple[str, ...] = ()

    @property
    def blocked(self) -> bool:
        return bool(self.blocking) and not self.allowed_by_label

    @property
    def exit_code(self) -> int:
        # A failed preview is never an all-clear, whatever the label says: nothing can be applied from it.
        if self.preview_failures:
            return EXIT_PREVIEW_FAILED
        return EXIT_BLOCKED if self.blocked else EXIT_ALLOWED


def logical_steps(steps: Sequence[Step]) -> tuple[Step, ...]:
    """Merge the steps of each resource into one: a replacement shown as three steps counts once, as `replace`.

    The merged step keeps the `replace` step's diff (the halves carry none), the protection of any part, and is
    refused when any part was refused. Order: where the resource first appeared.
    """
    by_urn: dict[str, list[Step]] = {}
    for step in steps:
        by_urn.setdefault(step.urn, []).append(step)
    merged = []
    for parts in by_urn.values():
        if len(parts) == 1:
            merged.append(parts[0])
            continue
        ops = {p.op for p in parts}
        main = next((p for p in parts if p.op == "replace"), None) or next(
            (p for p in parts if not p.refused), parts[0])
        op = "replace" if ops & REPLACEMENT_OPS else main.op
        old = next((p.old for p in parts if p.old is not None), None)
        new = next((p.new for p in parts if p.new is not None), None)
        if any(p.protected for p in parts) and old is not None and not old.protect:
            old = ResourceState(old.type, True, old.inputs, old.outputs, old.additional_secret_outputs)
        merged.append(Step(
            op=op, urn=main.urn, type=main.type, name=main.name, old=old, new=new,
            diff_reasons=main.diff_reasons,
            replace_reasons=tuple(sorted({r for p in parts for r in p.replace_reasons})),
            detailed_diff=main.detailed_diff, refused=any(p.refused for p in parts),
        ))
    return tuple(merged)


def parse_urn(urn: str) -> tuple[str, str, str, str]:
    """`urn:pulumi:<stack>::<project>::<parent$type>::<name>` → (stack, project, type, name)."""
    if not urn.startswith("urn:pulumi:"):
        raise PreviewError("a step's urn does not start with 'urn:pulumi:'")
    parts = urn[len("urn:pulumi:"):].split("::", 3)
    if len(parts) != 4:
        raise PreviewError("a step's urn does not have the form urn:pulumi:<stack>::<project>::<type>::<name>")
    stack, project, qualified_type, name = parts
    return stack, project, qualified_type.rsplit("$", 1)[-1], name


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise PreviewError(f"{where} is not a list of property names")
    return tuple(value)


def _state(value: Any, where: str) -> ResourceState | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise PreviewError(f"{where} is not an object")
    inputs, outputs = value.get("inputs") or {}, value.get("outputs") or {}
    if not isinstance(inputs, dict) or not isinstance(outputs, dict):
        raise PreviewError(f"{where}.inputs/outputs are not objects")
    protect = value.get("protect", False)
    if not isinstance(protect, bool):
        raise PreviewError(f"{where}.protect is not a boolean")
    return ResourceState(
        type=value.get("type") if isinstance(value.get("type"), str) else "",
        protect=protect,
        inputs=inputs,
        outputs=outputs,
        additional_secret_outputs=frozenset(_strings(value.get("additionalSecretOutputs"), where)),
    )


def _detailed_diff(value: Any, where: str) -> dict[str, PropertyDiff] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise PreviewError(f"{where} is not an object")
    diff = {}
    for path, entry in value.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("kind", ""), str):
            raise PreviewError(f"{where} has an entry that is not {{kind, inputDiff}}")
        diff[path] = PropertyDiff(kind=entry.get("kind") or "update", input_diff=bool(entry.get("inputDiff")))
    return diff


def _step(raw: Any, index: int) -> tuple[Step, str, str]:
    where = f"steps[{index}]"
    if not isinstance(raw, dict):
        raise PreviewError(f"{where} is not an object")
    op, urn = raw.get("op"), raw.get("urn")
    if not isinstance(op, str) or not op or not isinstance(urn, str):
        raise PreviewError(f"{where} has no op or urn")
    stack, project, urn_type, name = parse_urn(urn)
    old, new = _state(raw.get("oldState"), f"{where}.oldState"), _state(raw.get("newState"), f"{where}.newState")
    state_type = (new and new.type) or (old and old.type) or urn_type
    step = Step(
        op=op,
        urn=urn,
        type=state_type,
        name=name,
        old=old,
        new=new,
        diff_reasons=_strings(raw.get("diffReasons"), f"{where}.diffReasons"),
        replace_reasons=_strings(raw.get("replaceReasons"), f"{where}.replaceReasons"),
        detailed_diff=_detailed_diff(raw.get("detailedDiff"), f"{where}.detailedDiff"),
    )
    return step, stack, project


def parse_preview(document: Any) -> Preview:
    """A `PreviewDigest` (already JSON-decoded) as a `Preview`; structural problems raise PreviewError."""
    if not isinstance(document, dict):
        raise PreviewError("the preview is not a JSON object")
    if EVENT_KEYS & document.keys():
        raise PreviewError("this is one engine event, not a preview digest (streaming output cut to one line?)")
    if not _DIGEST_KEYS & document.keys():
        raise PreviewError(
            "the JSON is not a `pulumi preview --json` document: it has neither steps nor changeSummary"
        )
    return _preview_from(document)


def _preview_from(document: dict[str, Any], *, streamed: bool = False, failures: Sequence[str] = ()) -> Preview:
    raw_steps = document.get("steps") or []
    if not isinstance(raw_steps, list):
        raise PreviewError("steps is not a list")
    steps, stack, project = [], None, None
    for index, raw in enumerate(raw_steps):
        step, stack, project = _step(raw, index)
        steps.append(step)
    summary = document.get("changeSummary")
    if summary is not None and not (
        isinstance(summary, dict) and all(isinstance(v, int) and not isinstance(v, bool) for v in summary.values())
    ):
        raise PreviewError("changeSummary is not a map of op to count")
    if not summary:
        summary = {}
        for step in steps:
            summary[step.op] = summary.get(step.op, 0) + 1
    diagnostics: dict[str, int] = {}
    raw_diagnostics = document.get("diagnostics") or []
    if not isinstance(raw_diagnostics, list):
        raise PreviewError("diagnostics is not a list")
    for entry in raw_diagnostics:
        severity = entry.get("severity") if isinstance(entry, dict) else None
        key = severity if isinstance(severity, str) and severity else "info"
        diagnostics[key] = diagnostics.get(key, 0) + 1
    failures = list(failures)
    if diagnostics.get("error"):
        count = diagnostics["error"]
        failures.append(f"the preview failed: the engine reported {count} error{'s' if count != 1 else ''}")
    steps = _mark_refused(raw_diagnostics, steps)
    return Preview(
        steps=tuple(steps),
        change_summary=dict(summary),
        stack=stack,
        project=project,
        diagnostics=diagnostics,
        maybe_corrupt=bool(document.get("maybeCorrupt")),
        protection_errors=_protection_errors(raw_diagnostics, steps),
        failures=tuple(failures),
        streamed=streamed,
    )


def _refusals(diagnostics: Any) -> dict[str, str]:
    """urn → "delete"/"replace" for every resource an error diagnostic says the engine refused (protected).

    Only the urn and the verb are kept, never the message. The urn is taken from the diagnostic and from the
    message itself (the deleteBeforeReplace refusal names the replaced resource in the text).
    """
    refused: dict[str, str] = {}
    for entry in diagnostics if isinstance(diagnostics, list) else []:
        if not isinstance(entry, dict) or entry.get("severity") != "error":
            continue
        message = entry.get("message")
        if not isinstance(message, str):
            continue
        if _REFUSED_DELETE in message:
            verb = "delete"
        elif _REFUSED_PROTECTED in message:
            verb = "replace" if "unable to replace" in message else "delete"
        else:
            continue
        urns = _URN_IN_TEXT.findall(message)
        if isinstance(entry.get("urn"), str) and entry["urn"]:
            urns.insert(0, entry["urn"])
        for urn in urns:
            refused.setdefault(urn.rstrip(".,;:)"), verb)
    return refused


def _mark_refused(diagnostics: Any, steps: list[Step]) -> list[Step]:
    refused = _refusals(diagnostics)
    return [replace(s, refused=True) if s.urn in refused and s.op != "same" else s for s in steps]


def _protection_errors(diagnostics: Any, steps: list[Step]) -> tuple[Step, ...]:
    """Refusals without a listed step, so the gate never passes what the engine itself refused."""
    listed = {s.urn for s in steps if s.op != "same"}
    errors = []
    for urn, verb in _refusals(diagnostics).items():
        if urn in listed:
            continue
        try:
            _, _, urn_type, name = parse_urn(urn)
        except PreviewError:
            continue
        known = next((s for s in steps if s.urn == urn), None)
        # The engine refuses only protected resources (or their protected dependents): mark it protected.
        old = known.old if known and known.old else ResourceState(urn_type, True, {}, {}, frozenset())
        errors.append(Step(op=verb, urn=urn, type=old.type or urn_type, name=name, old=old, new=None, refused=True))
    return tuple(errors)


def parse_events(events: Sequence[Any]) -> Preview:
    """A preview from PULUMI_ENABLE_STREAMING_JSON_PREVIEW's engine events (apitype.EngineEvent, one per line).

    resourcePreEvent.metadata carries {op, urn, type, old, new, keys, diffs, detailedDiff{diffKind, inputDiff}};
    diagnosticEvent {urn, message, severity}; summaryEvent {resourceChanges, maybeCorrupt}. A stream without a
    summaryEvent ended early (the preview did not finish) and a cancelEvent means it was cancelled: both fail.
    """
    steps: list[dict[str, Any]] = []
    diagnostics: list[dict[str, Any]] = []
    summary: dict[str, Any] | None = None
    failures: list[str] = []
    for index, event in enumerate(events):
        if not isinstance(event, dict) or not EVENT_KEYS & event.keys():
            raise PreviewError(f"line {index + 1} of the event stream is not an engine event")
        if isinstance(event.get("resourcePreEvent"), dict):
            meta = event["resourcePreEvent"].get("metadata")
            if not isinstance(meta, dict):
                raise PreviewError(f"line {index + 1}: resourcePreEvent has no metadata")
            detailed = meta.get("detailedDiff")
            if isinstance(detailed, dict):
                detailed = {
                    path: {"kind": d.get("diffKind", d.get("kind")), "inputDiff": d.get("inputDiff")}
                    if isinstance(d, dict) else d
                    for path, d in detailed.items()
                }
            steps.append({"op": meta.get("op"), "urn": meta.get("urn"), "oldState": meta.get("old"),
                          "newState": meta.get("new"), "diffReasons": meta.get("diffs"),
                          "replaceReasons": meta.get("keys"), "detailedDiff": detailed})
        elif isinstance(event.get("diagnosticEvent"), dict):
            diagnostics.append(event["diagnosticEvent"])
        elif isinstance(event.get("summaryEvent"), dict):
            summary = event["summaryEvent"]
        elif "cancelEvent" in event:
            failures.append("the preview was cancelled")
    if not any(isinstance(e, dict) and "preludeEvent" in e for e in events):
        # Every preview starts with a prelude; without it this is a fragment, not a preview.
        raise PreviewError("the event stream has no preludeEvent: it is not a whole preview")
    if summary is None:
        failures.append("the event stream ended before its summary: the preview did not finish")
    document = {
        "steps": steps,
        "diagnostics": diagnostics,
        "changeSummary": (summary or {}).get("resourceChanges") or None,
        "maybeCorrupt": bool((summary or {}).get("maybeCorrupt")),
    }
    return _preview_from(document, streamed=True, failures=failures)


def load_preview(path: Path) -> Preview:
    """Read and parse a preview file: the `--json` digest, or the streaming engine events (one per line).

    Text before the JSON (a CLI banner in a merged log) is skipped. Anything else fails closed.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise PreviewError(f"cannot read {path}: {type(err).__name__}") from None
    events = _event_lines(text)
    if events is not None:
        return parse_events(events)
    decoder = json.JSONDecoder()
    # The whole text first; only when that fails, each line that starts a JSON object (found lazily: a
    # character-by-character scan of a 10,000-step preview cost more than parsing it).
    starts = itertools.chain([None], (m.start() + 1 for m in re.finditer(r"\n(?=\{)", text)))
    for start in starts:
        try:
            document, _ = decoder.raw_decode(text.lstrip() if start is None else text[start:])
        except json.JSONDecodeError:
            continue
        return parse_preview(document)
    raise PreviewError(f"{path} does not contain a JSON preview digest (run `pulumi preview --json`)")


def _event_lines(text: str) -> list[Any] | None:
    """The parsed lines when the text is a stream of engine events (first JSON line has an event key), else None."""
    lines = [line for line in text.splitlines() if line.strip()]
    first = next((i for i, line in enumerate(lines) if line.lstrip().startswith("{")), None)
    if first is None:
        return None
    try:
        head = json.loads(lines[first])
    except json.JSONDecodeError:
        return None  # a pretty-printed digest starts with a lone "{"
    if not (isinstance(head, dict) and EVENT_KEYS & head.keys()):
        return None
    events = []
    for number, line in enumerate(lines[first:], start=first + 1):
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            raise PreviewError(f"line {number} of the event stream is not JSON") from None
    return events


def evaluate(preview: Preview, *, allow_label_present: bool) -> GateResult:
    """Which resources are destroyed while identity-bearing or protected (or refused), each once; label or not."""
    blocking = tuple(
        step for step in preview.changes()
        if step.refused or (step.destructive and (step.identity_bearing or step.protected))
    )
    return GateResult(
        blocking=blocking,
        allowed_by_label=allow_label_present and bool(blocking),
        unprotecting=tuple(s for s in preview.changes() if s.unprotects),
        preview_failures=preview.failures,
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m review gate",
        description="Fail when a preview replaces or deletes an identity-bearing or protected resource.",
    )
    parser.add_argument("preview", type=Path, help="output of `pulumi preview --json`")
    parser.add_argument(
        "--allow-label-present", action="store_true", help=f"the pull request carries the `{ALLOW_LABEL}` label"
    )
    parser.add_argument("--format", choices=("markdown", "text"), default="text", help="what to print on stdout")
    parser.add_argument("--comment-out", type=Path, help="also write the markdown PR comment to this file")
    return parser


def main_gate(argv: Sequence[str]) -> int:
    """`python -m review gate ...` (argv without the word `gate`): 0 allowed, 3 blocked, 2 not a preview, 4 failed."""
    # Imported here: review.comment imports this module's types.
    from review.comment import render_markdown, render_text, render_unreadable

    args = _parser().parse_args(list(argv))
    try:
        preview = load_preview(args.preview)
    except PreviewError as err:
        print(f"gate: {err}", file=sys.stderr)
        print("gate: failing closed; nothing was evaluated.", file=sys.stderr)
        if args.comment_out:
            args.comment_out.write_text(render_unreadable(str(err)), encoding="utf-8")
        return EXIT_UNREADABLE
    result = evaluate(preview, allow_label_present=args.allow_label_present)
    markdown = render_markdown(preview, result)
    if args.comment_out:
        args.comment_out.write_text(markdown, encoding="utf-8")
    sys.stdout.write(markdown if args.format == "markdown" else render_text(preview, result))
    for failure in result.preview_failures:
        print(f"gate: {failure}; failing closed.", file=sys.stderr)
    return result.exit_code
