"""Render an offline diff as text, JSON, or a size-capped markdown PR comment."""

from __future__ import annotations

import json
from typing import Any

from review.diff import Change, Diff, Entity
from review.markdown import MAX_COMMENT_CHARS, take_fitting

COMMENT_MARKER = "<!-- monitoring-estate: offline diff (edited in place by CI) -->"
_MAX_VALUE = 120


def _value(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else json.dumps(value)
    return text if len(text) <= _MAX_VALUE else text[: _MAX_VALUE - 1] + "…"


def change_line(entity: Entity, change: Change) -> str:
    """`grafana alert rule careflex/error-rate-critical: threshold 0.05 → 0.03`."""
    if change.secret:
        return f"{entity.label}: {change.path} changed (secret)"
    if change.old is None:
        return f"{entity.label}: {change.path} set to {_value(change.new)}"
    if change.new is None:
        return f"{entity.label}: {change.path} removed (was {_value(change.old)})"
    return f"{entity.label}: {change.path} {_value(change.old)} → {_value(change.new)}"


def counts_line(diff: Diff) -> str:
    """The one-line summary."""
    return f"{len(diff.added)} added, {len(diff.removed)} removed, {len(diff.changed)} changed"


def render_text(diff: Diff) -> str:
    """For a terminal."""
    lines = [f"Offline diff against {diff.base}: {counts_line(diff)}"]
    danger = diff.danger()
    if danger:
        lines += ["", "DANGER (identity-bearing resources):", *(f"  ! {d}" for d in danger)]
    if diff.empty:
        lines += ["", "No changes: both revisions declare the same estate."]
    if diff.added:
        lines += ["", "Added:", *(f"  + {e.label}" for e in diff.added)]
    if diff.removed:
        lines += ["", "Removed:", *(f"  - {e.label}" for e in diff.removed)]
    if diff.changed:
        lines += ["", "Changed:"]
        for entity, changes in diff.changed:
            lines += [f"  ~ {change_line(entity, c)}" for c in changes]
    return "\n".join(lines) + "\n"


def render_json(diff: Diff) -> str:
    """For tools; secrets carry no value."""
    data = {
        "base": diff.base,
        "danger": diff.danger(),
        "added": [{"label": e.label, "type": e.type, "key": e.key} for e in diff.added],
        "removed": [{"label": e.label, "type": e.type, "key": e.key} for e in diff.removed],
        "changed": [
            {
                "label": e.label,
                "type": e.type,
                "key": e.key,
                "changes": [
                    {"path": c.path, "secret": True} if c.secret else {"path": c.path, "old": c.old, "new": c.new}
                    for c in changes
                ],
            }
            for e, changes in diff.changed
        ],
    }
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def render_markdown(diff: Diff, limit: int = MAX_COMMENT_CHARS) -> str:
    """A PR comment: counts first, danger next, details collapsed; never longer than `limit` characters.

    Details are cut (with a count of what was left out) before the summary or the danger list is.
    """
    head = [COMMENT_MARKER, f"### Offline diff against `{diff.base}`", "", f"**{counts_line(diff)}**"]
    danger = diff.danger()
    if danger:
        head += ["", "#### :warning: Identity-bearing resources deleted or replaced", *(f"- {d}" for d in danger)]
    if diff.empty:
        head += ["", "No changes: both revisions declare the same estate."]
    head += [
        "",
        "_Planned offline with the Pulumi mock engine: no credentials, ids and computed values are placeholders, "
        "secrets are shown only as changed. `pulumi preview` has the final word._",
    ]
    sections = [
        ("Added", [f"- `+` {e.label}" for e in diff.added]),
        ("Removed", [f"- `-` {e.label}" for e in diff.removed]),
        ("Changed", [f"- {change_line(e, c)}" for e, changes in diff.changed for c in changes]),
    ]
    text = "\n".join(head)
    if len(text) + 1 > limit:  # only a danger list of thousands of lines gets here
        return text[: limit - 40].rsplit("\n", 1)[0] + "\n- … (danger list truncated)\n"
    for title, lines in sections:
        if not lines:
            continue
        opening, closing = f"\n\n<details><summary>{title} ({len(lines)})</summary>\n\n", "\n\n</details>"
        note = f"\n- … {len(lines)} more left out to stay under GitHub's comment size limit"
        budget = limit - 1 - len(text) - len(opening) - len(closing) - len(note)
        if budget <= 0:
            skipped = f"\n\n_{title}: {len(lines)} left out to stay under GitHub's comment size limit._"
            if len(text) + len(skipped) + 1 <= limit:
                text += skipped
            continue
        kept, left_out = take_fitting(lines, budget, separator="\n")
        body = "\n".join(kept)
        if left_out:
            body += f"\n- … {left_out} more left out to stay under GitHub's comment size limit"
        text += opening + body + closing
    return text + "\n"
