"""The PR comment (markdown) and CI log (text) for a preview: counts, danger, details; never a secret value.

How `pulumi preview --json` shows secrets (pulumi/pulumi `pkg/backend/display/json.go` `massagePropertyValue`):
every secret in `oldState`/`newState` becomes the string "[secret]". State files, `stack export` and event
logs instead carry signature objects `{"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270",
"ciphertext"|"plaintext"|"value": ...}` (constants in the Python SDK's `pulumi/runtime/rpc.py`). Both are
recognised. Values a provider forgot to mark secret (provider-pitfalls §3) are not recognisable as such, so
this module prints property PATHS, and a value only for a plain, short, non-secret scalar input whose path
has no credential-like name, on a resource type that does not carry a secret value.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from model.patterns import pattern
from review.gate import ALLOW_LABEL, IDENTITY_TYPES, GateResult, Preview, PropertyDiff, Step
from review.markdown import MAX_COMMENT_CHARS, take_fitting

MARKER = "<!-- estate-preview-gate: pulumi preview summary, edited in place by CI -->"
# Pulumi's public markers for secrets (not credentials): the sentinel and the signature key/value.
SECRET_SENTINEL = "[secret]"  # noqa: S105
SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"  # noqa: S105
OUTPUT_VALUE_SIG = "d0e6a833031e9bbcd3f4e8bde6ca49a4"
# The engine's placeholder for a value known only after apply (`UNKNOWN` in the SDK's runtime/rpc.py).
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
COUNTED_OPS = ("create", "update", "replace", "delete", "same")
MAX_PATHS_PER_STEP = 25
_MAX_SHOWN_VALUE = 60
_MIN_SCRUBBED_SECRET = 6

# Types whose whole purpose is a secret value: never print any of their values, even "plain" ones.
SECRET_BEARING_TYPES = frozenset(
    {
        "pulumi-python:dynamic/fly:AppSecret",
        # RandomString.result is not marked secret by the provider, and "result" looks harmless.
        "random:index/randomPassword:RandomPassword",
        "random:index/randomString:RandomString",
    }
)
# A path segment with one of these in its name may hold a credential even when nothing marks it secret
# (PagerDuty `integration_key`, Grafana webhook `url`, UptimeRobot contact `value`).
_SENSITIVE_NAME = pattern(
    r"key|token|secret|passw|dsn|credential|auth|cert|private|webhook|url|uri|value|header|cookie|signature|"
    r"__provider",
    re.IGNORECASE,
)
_PATH_TOKEN = pattern(r'\.?([A-Za-z_$][\w$-]*)|\[(\d+)\]|\["((?:[^"\\]|\\.)*)"\]|\.?(\*)')


def parse_path(path: str) -> list[str | int] | None:
    """A Pulumi property path (`rules[0].for`, `tags["a.b"]`) as segments; None when it does not parse."""
    segments: list[str | int] = []
    position = 0
    while position < len(path):
        match = _PATH_TOKEN.match(path, position)
        if not match or match.end() == position:
            return None
        name, index, quoted, star = match.groups()
        if name is not None:
            segments.append(name)
        elif index is not None:
            segments.append(int(index))
        elif quoted is not None:
            segments.append(re.sub(r"\\(.)", r"\1", quoted))
        else:
            segments.append(star or "*")
        position = match.end()
    return segments


def is_secret(value: Any) -> bool:
    """A secret as `--json` or a state file writes it."""
    if isinstance(value, str):
        return value == SECRET_SENTINEL
    if isinstance(value, dict):
        sig = value.get(SIG_KEY)
        return sig == SECRET_SIG or (sig == OUTPUT_VALUE_SIG and bool(value.get("secret")))
    return False


_MISSING = object()


def lookup(container: Mapping[str, Any], segments: list[str | int]) -> tuple[bool, Any]:
    """(secret, value) at `segments`; secret is True when the value or any enclosing value is a secret."""
    current: Any = container
    for segment in segments:
        if is_secret(current):
            return True, _MISSING
        in_list = isinstance(segment, int) and isinstance(current, list) and 0 <= segment < len(current)
        in_map = isinstance(segment, str) and isinstance(current, dict) and segment in current
        if not (in_list or in_map):
            return False, _MISSING
        current = current[segment]
    return is_secret(current), current


def _walk(value: Any) -> Iterator[Any]:
    yield value
    if isinstance(value, dict):
        for child in value.values():
            yield from _walk(child)
    elif isinstance(value, list):
        for child in value:
            yield from _walk(child)


def _strings_in(value: Any) -> Iterator[str]:
    for item in _walk(value):
        if isinstance(item, str):
            yield item


def known_secrets(preview: Preview) -> frozenset[str]:
    """Every plaintext found inside a secret signature object: scrubbed from the output as a last resort."""
    found: set[str] = set()
    for step in preview.steps:
        for state in (step.old, step.new):
            if state is None:
                continue
            for item in _walk([state.inputs, state.outputs]):
                if not (isinstance(item, dict) and is_secret(item)):
                    continue
                for key in ("plaintext", "value"):
                    raw = item.get(key)
                    found.update(_strings_in(raw))
                    if isinstance(raw, str):
                        with contextlib.suppress(ValueError):
                            found.update(_strings_in(json.loads(raw)))
    return frozenset(s for s in found if len(s) >= _MIN_SCRUBBED_SECRET)


def scrub(text: str, secrets: Iterable[str]) -> str:
    """Replace every known secret plaintext (longest first) with the mask."""
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, SECRET_SENTINEL)
    return text


def _plain(value: Any, secrets: frozenset[str]) -> bool:
    if value is None or isinstance(value, bool | int | float):
        return True
    return (
        isinstance(value, str)
        and len(value) <= _MAX_SHOWN_VALUE
        and not any(c in value for c in "`\n\r|<>")
        and not any(s in value for s in secrets)
    )


def _shown(value: Any) -> str:
    if value is _MISSING:
        return "(absent)"
    if value == UNKNOWN:
        return "(known after apply)"
    return f"`{json.dumps(value, ensure_ascii=False)}`"


def describe_change(step: Step, path: str, diff: PropertyDiff | None, secrets: frozenset[str]) -> str:
    """`path`: old → new for a plain non-secret scalar input, else `path`: changed / changed (secret)."""
    label = f"`{_safe(path)}`"
    if diff and diff.replaces:
        label += " (forces replacement)"
    segments = parse_path(path)
    states = [s for s in (step.old, step.new) if s is not None]
    if segments is None:
        return f"{label}: changed"
    top = segments[0] if segments else None
    if any(isinstance(top, str) and top in s.additional_secret_outputs for s in states):
        return f"{label}: changed (secret)"
    lookups = []
    for state in (step.old, step.new):
        if state is None:
            lookups.append((False, _MISSING))
            continue
        secret, value = lookup(state.inputs, segments)
        if value is _MISSING and not secret:
            secret, value = lookup(state.outputs, segments)
        lookups.append((secret, value))
    if any(secret for secret, _ in lookups):
        return f"{label}: changed (secret)"
    sensitive = step.type in SECRET_BEARING_TYPES or any(
        isinstance(s, str) and _SENSITIVE_NAME.search(s) for s in segments
    )
    (_, old), (_, new) = lookups
    if sensitive or not all(v is _MISSING or _plain(v, secrets) for v in (old, new)):
        return f"{label}: changed"
    return f"{label}: {_shown(old)} → {_shown(new)}"


def _safe(text: str) -> str:
    """Names and paths inside inline code: no backticks, no line breaks, no HTML."""
    return re.sub(r"[`\r\n<>]", "'", text)


def counts(preview: Preview) -> dict[str, int]:
    """create/update/replace/delete/same, then any other op: one per resource, refused ones included.

    Taken from the same logical steps as the danger list, not from the engine's changeSummary, which leaves
    refused steps out (a blocked delete would show as 0 deletes) and, with --show-replacement-steps, still
    counts a replacement once. `same` comes from changeSummary: same steps are listed only with --show-sames.
    """
    tally: dict[str, int] = {}
    for step in preview.changes():
        if step.op != "same":
            tally[step.op] = tally.get(step.op, 0) + 1
    tally["same"] = int(preview.change_summary.get("same", 0)) or sum(1 for s in preview.steps if s.op == "same")
    result = {op: tally.pop(op, 0) for op in COUNTED_OPS}
    result.update({op: n for op, n in sorted(tally.items()) if n})
    return result


def _why(step: Step) -> str:
    reasons = []
    if step.identity_bearing:
        reasons.append(f"identity-bearing: loses {IDENTITY_TYPES[step.type]}")
    if step.protected:
        reasons.append("protected")
    if step.refused:
        reasons.append("refused by the engine: the resource is protected")
    return "; ".join(reasons)


def _danger_line(step: Step, *, compact: bool = False) -> str:
    line = f"- **{_safe(step.op)}** `{_safe(step.name)}` (`{_safe(step.type)}`)"
    if compact:
        return line
    line += f": {_why(step)}"
    forced = step.replace_paths()
    if forced:
        line += "; forced by " + ", ".join(f"`{_safe(p)}`" for p in forced)
    elif step.op == "delete":
        line += "; removed from the program (or its name/parent changed without an alias)"
    return line


def _danger_section(result: GateResult, budget: int) -> str:
    failed = [
        "### ⛔ The preview failed: nothing may be applied from it",
        "",
        *(f"- {_safe(reason)}" for reason in result.preview_failures),
        "",
        "The engine's messages are not copied here (they can quote values): see the preview job's log.",
        "",
    ] if result.preview_failures else []
    if not result.blocking and failed:
        head = failed
    elif not result.blocking:
        head = ["### ✅ No identity-bearing or protected resource is replaced or deleted", ""]
    elif result.allowed_by_label:
        head = [
            *failed,
            f"### ⚠️ Allowed by the `{ALLOW_LABEL}` label: identity-bearing resources will be replaced or deleted",
            "",
        ]
    else:
        head = [
            *failed,
            "### ⛔ Blocked: identity-bearing or protected resources would be replaced or deleted",
            "",
            f"If this is intended, a reviewer adds the `{ALLOW_LABEL}` label and the check runs again. "
            "Otherwise keep the resource's name and parent (or add an alias) and change only updatable properties.",
            "",
        ]
    tail = []
    if result.unprotecting:
        tail += ["", "Protection removed (the next change could delete these):"]
        tail += [f"- `{_safe(s.name)}` (`{_safe(s.type)}`)" for s in result.unprotecting]
    for compact in (False, True):
        lines = [*head, *(_danger_line(s, compact=compact) for s in result.blocking), *tail]
        text = "\n".join(lines).rstrip("\n") + "\n"
        if len(text) <= budget:
            return text
    # Only reached with thousands of blocking steps: keep the verdict and as many as fit, and say so.
    kept, size = list(head), len("\n".join(head)) + 200
    for index, step in enumerate(result.blocking):
        line = _danger_line(step, compact=True)
        if size + len(line) + 1 > budget:
            kept.append(f"- … and {len(result.blocking) - index} more blocking steps (see the job log)")
            break
        kept.append(line)
        size += len(line) + 1
    return "\n".join(kept) + "\n"


def _detail_block(step: Step, secrets: frozenset[str], *, bullet: str = "- ", indent: str = "  ") -> str:
    flags = (" (protected)" if step.protected else "") + (" (refused by the engine)" if step.refused else "")
    lines = [f"{bullet}**{_safe(step.op)}** `{_safe(step.name)}` (`{_safe(step.type)}`){flags}"]
    paths = step.changed_paths()
    diff = step.detailed_diff or {}
    for path in paths[:MAX_PATHS_PER_STEP]:
        lines.append(f"{indent}- {describe_change(step, path, diff.get(path), secrets)}")
    if len(paths) > MAX_PATHS_PER_STEP:
        lines.append(f"{indent}- … {len(paths) - MAX_PATHS_PER_STEP} more properties")
    return "\n".join(lines) + "\n"


def _changed_steps(preview: Preview) -> list[Step]:
    return [s for s in preview.changes() if s.op != "same" or s.unprotects]


def _title(preview: Preview) -> str:
    where = "/".join(p for p in (preview.project, preview.stack) if p)
    return f"## Pulumi preview{f' — `{_safe(where)}`' if where else ''}"


def _summary(preview: Preview) -> str:
    numbers = counts(preview)
    ops = list(numbers)
    lines = [
        "| " + " | ".join(ops) + " |",
        "|" + "---:|" * len(ops),
        "| " + " | ".join(str(numbers[op]) for op in ops) + " |",
    ]
    notes = []
    problems = {k: v for k, v in preview.diagnostics.items() if k in ("error", "warning")}
    if problems:
        found = ", ".join(f"{n} {k}{'s' if n != 1 else ''}" for k, n in sorted(problems.items()))
        notes.append(f"The preview reported {found}; messages are not copied here (see the job log).")
    if preview.maybe_corrupt:
        notes.append("Pulumi reports that some resources may be corrupt (an earlier run was interrupted).")
    return "\n".join(lines) + "\n" + "".join(f"\n{n}\n" for n in notes)


def render_markdown(preview: Preview, result: GateResult, *, limit: int = MAX_COMMENT_CHARS) -> str:
    """The PR comment: marker, counts, danger section, then details collapsed and cut to stay under `limit`."""
    secrets = known_secrets(preview)
    head = f"{MARKER}\n{_title(preview)}\n\n{_summary(preview)}\n"
    closing_reserve = 400
    danger = _danger_section(result, limit - len(head) - closing_reserve)
    steps = _changed_steps(preview)
    if not steps:
        return scrub(f"{head}{danger}\nNo changes.\n", secrets)
    noun = "resource" if len(steps) == 1 else "resources"
    opening = f"\n<details>\n<summary>Changes in detail ({len(steps)} {noun})</summary>\n\n"
    closing = "\n</details>\n"
    budget = limit - len(head) - len(danger) - len(opening) - len(closing) - closing_reserve
    blocks, left_out = take_fitting([_detail_block(step, secrets) for step in steps], budget)
    note = (
        f"\n_… {left_out} more changed resources left out to keep this comment under {limit:,} characters; "
        "the job log has the full list._\n"
        if left_out
        else ""
    )
    return scrub(head + danger + opening + "".join(blocks) + note + closing, secrets)


def render_text(preview: Preview, result: GateResult) -> str:
    """The same content for a CI log: plain text, not cut."""
    secrets = known_secrets(preview)
    where = "/".join(p for p in (preview.project, preview.stack) if p) or "(unknown stack)"
    numbers = counts(preview)
    lines = [f"Pulumi preview of {where}: " + ", ".join(f"{n} {op}" for op, n in numbers.items())]
    problems = {k: v for k, v in preview.diagnostics.items() if k in ("error", "warning")}
    if problems:
        lines.append("diagnostics: " + ", ".join(f"{n} {k}" for k, n in sorted(problems.items())))
    for failure in result.preview_failures:
        lines.append(f"gate: FAILED: {failure}")
    if not result.blocking:
        verdict = "no identity-bearing or protected resource is replaced or deleted"
        lines.append(f"gate: {'FAILED' if result.preview_failures else 'allowed'} ({verdict})")
    elif result.allowed_by_label:
        lines.append(f"gate: ALLOWED BY LABEL `{ALLOW_LABEL}` ({len(result.blocking)} blocking step(s)):")
    else:
        lines.append(f"gate: BLOCKED ({len(result.blocking)} step(s)); add the `{ALLOW_LABEL}` label if intended:")
    lines += ["  " + _danger_line(s).replace("**", "").replace("`", "") for s in result.blocking]
    if result.unprotecting:
        lines.append("protection removed: " + ", ".join(s.name for s in result.unprotecting))
    changed = _changed_steps(preview)
    if changed:
        lines += ["", "changes:"]
        for step in changed:
            block = _detail_block(step, secrets, bullet="  ", indent="    ")
            lines.append(block.replace("**", "").replace("`", "").rstrip("\n"))
    return scrub("\n".join(lines) + "\n", secrets)


def render_unreadable(reason: str) -> str:
    """The comment when the preview file could not be read: the gate failed closed."""
    return (
        f"{MARKER}\n## Pulumi preview\n\n### ⛔ The gate could not read the preview\n\n"
        f"{_safe(reason)}\n\nNothing was evaluated, so the check fails. See the job log.\n"
    )
