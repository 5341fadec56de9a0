"""Render an offline diff as text, JSON, or a size-capped markdown PR comment."""

from __future__ import annotations

import json
from typing import Any

from review.diff import Change, Diff, Entity
from review.markdown import MAX_COMMENT_CHARS, take_fitting

COMMENT_MARKER = "<!-- monitoring-estate: offline diff (edited in place by CI) -->"
_MAX_VALUE = 120
ALERT_RULE_TYPE = "grafana:alert-rule"  # the pseudo type review.diff gives one rule inside a rule group


def _value(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else json.dumps(value)
    return text if len(text) <= _MAX_VALUE else text[: _MAX_VALUE - 1] + "…"


def _scalars(value: Any) -> bool:
    return isinstance(value, list) and all(not isinstance(v, dict | list) for v in value)


def _list_change(old: list[Any], new: list[Any]) -> str:
    """Element by element: who left, who joined, and the order when it matters (rotations)."""
    gone = [v for v in old if v not in new]
    joined = [v for v in new if v not in old]
    parts = []
    if gone:
        parts.append("removed " + ", ".join(_value(v) for v in gone))
    if joined:
        parts.append("added " + ", ".join(_value(v) for v in joined))
    kept_old = [v for v in old if v in new]
    kept_new = [v for v in new if v in old]
    if kept_old != kept_new:
        parts.append("order " + ", ".join(_value(v) for v in kept_old) + " → " + ", ".join(_value(v) for v in kept_new))
    return "; ".join(parts) or "changed"


_CONTEXT = 30


def _string_change(old: str, new: str) -> str:
    """Long strings: only the part that differs, with a little context, never a blind cut at 120 characters."""
    prefix = 0
    while prefix < min(len(old), len(new)) and old[prefix] == new[prefix]:
        prefix += 1
    suffix = 0
    while suffix < min(len(old), len(new)) - prefix and old[-1 - suffix] == new[-1 - suffix]:
        suffix += 1
    start = max(prefix - _CONTEXT, 0)

    def part(text: str) -> str:
        end = len(text) - max(suffix - _CONTEXT, 0)
        return ("…" if start else "") + text[start:end] + ("…" if end < len(text) else "")

    return f"{json.dumps(part(old), ensure_ascii=False)} → {json.dumps(part(new), ensure_ascii=False)}"


def _body(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_value(v)}" for k, v in value.items()) + "}"
    return _value(value)


def change_line(entity: Entity, change: Change) -> str:
    """`grafana alert rule careflex/error-rate-critical: threshold 0.05 → 0.03`."""
    if change.secret:
        return f"{entity.label}: {change.path} changed (secret)"
    if _scalars(change.old) and _scalars(change.new):
        return f"{entity.label}: {change.path} {_list_change(change.old, change.new)}"
    long_strings = isinstance(change.old, str) and isinstance(change.new, str) and (
        max(len(change.old), len(change.new)) > _MAX_VALUE)
    if long_strings:
        return f"{entity.label}: {change.path} {_string_change(change.old, change.new)}"
    if isinstance(change.new, dict) and change.old is None:
        return f"{entity.label}: {change.path} added {_body(change.new)}"
    if isinstance(change.old, dict) and change.new is None:
        return f"{entity.label}: {change.path} removed (was {_body(change.old)})"
    if change.old is None:
        return f"{entity.label}: {change.path} set to {_value(change.new)}"
    if change.new is None:
        return f"{entity.label}: {change.path} removed (was {_value(change.old)})"
    return f"{entity.label}: {change.path} {_value(change.old)} → {_value(change.new)}"


def _removed(entity: Entity) -> str:
    return f"{entity.label} (protected)" if entity.protected else entity.label


def counts_line(diff: Diff) -> str:
    """The one-line summary."""
    imported = f", {len(diff.imported)} imported" if diff.imported else ""
    return f"{len(diff.added)} added{imported}, {len(diff.removed)} removed, {len(diff.changed)} changed"


def _imported(entity: Entity) -> str:
    """An adoption, with the vendor id it takes over (an id, never a secret)."""
    return f"{entity.label} ← {entity.import_id}"


def _paging_lines(diff: Diff, limit: int) -> list[str]:
    """The "who gets paged for what" section: at most a third of the comment, so the details keep room."""
    from review.route import render_paging_markdown

    if diff.paging_note:
        return ["", f"_{diff.paging_note}_"]
    if diff.paging is None or not diff.paging.rows:
        return []
    return render_paging_markdown(diff.paging, limit // 3).rstrip("\n").split("\n")


def render_text(diff: Diff) -> str:
    """For a terminal."""
    lines = [f"Offline diff against {diff.base}: {counts_line(diff)}"]
    danger = diff.danger()
    if danger:
        lines += ["", "DANGER (identity-bearing resources):", *(f"  ! {d}" for d in danger)]
    if diff.paging_note:
        lines += ["", diff.paging_note]
    elif diff.paging is not None and diff.paging.rows:
        lines += ["", f"Who gets paged for what (on call as of {diff.paging.at.isoformat()}):"]
        for key, old, new in diff.paging.rows:
            lines += [f"  {key}", f"    before: {old.delivery.cell() if old else '(none)'}",
                      f"    after:  {new.delivery.cell() if new else '(none)'}"]
    if diff.empty:
        lines += ["", "No changes: both revisions declare the same estate."]
    if diff.added:
        lines += ["", "Added:", *(f"  + {e.label}" for e in diff.added)]
    if diff.imported:
        lines += ["", "Imported (existing objects adopted, nothing created):",
                  *(f"  = import {_imported(e)}" for e in diff.imported)]
    if diff.removed:
        lines += ["", "Removed:", *(f"  - {_removed(e)}" for e in diff.removed)]
    if diff.changed:
        lines += ["", "Changed:"]
        for entity, changes in diff.changed:
            lines += [f"  ~ {change_line(entity, c)}" for c in changes]
    return "\n".join(lines) + "\n"


def render_json(diff: Diff) -> str:
    """For tools; secrets carry no value."""
    paging = diff.paging
    data = {
        "base": diff.base,
        "danger": diff.danger(),
        "paging": None if paging is None else {
            "at": paging.at.isoformat(), "unchanged": paging.unchanged,
            "changed": [{"alerts": key, "before": old.delivery.cell() if old else None,
                         "after": new.delivery.cell() if new else None} for key, old, new in paging.rows],
        },
        "paging_note": diff.paging_note,
        "added": [{"label": e.label, "type": e.type, "key": e.key} for e in diff.added],
        "imported": [{"label": e.label, "type": e.type, "key": e.key, "import_id": e.import_id}
                     for e in diff.imported],
        "removed": [{"label": e.label, "type": e.type, "key": e.key, "protected": e.protected} for e in diff.removed],
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
    head += _paging_lines(diff, limit)
    head += [
        "",
        "_Planned offline with the Pulumi mock engine: no credentials, ids and computed values are placeholders, "
        "secrets are shown only as changed. `pulumi preview` has the final word._",
    ]
    # Most telling first: what goes away, then what changes, then what is new. Every section that cannot be
    # shown whole ends with a line saying how many of its entries, of which kinds, are left out.
    sections = [
        ("Removed", [(e.type, f"- `-` {_removed(e)}") for e in diff.removed]),
        ("Changed", [(e.type, f"- {change_line(e, c)}") for e, changes in diff.changed for c in changes]),
        ("Added", [(e.type, f"- `+` {e.label}") for e in diff.added]),
        ("Imported", [(e.type, f"- `import` {_imported(e)}") for e in diff.imported]),
    ]
    sections = [(title, entries) for title, entries in sections if entries]
    text = "\n".join(head)
    if len(text) + 1 > limit:  # only a danger list of thousands of lines gets here
        return text[: limit - 40].rsplit("\n", 1)[0] + "\n- … (danger list truncated)\n"
    for index, (title, entries) in enumerate(sections):
        later = sum(_reserve(t, e) for t, e in sections[index + 1:])
        opening, closing = f"\n\n<details><summary>{title} ({len(entries)})</summary>\n\n", "\n\n</details>"
        note_room = len(_left_out(title, entries)) + 1
        budget = limit - 1 - len(text) - later - len(opening) - len(closing) - note_room
        kept, left_out = take_fitting([line for _, line in entries], max(budget, 0), separator="\n")
        if not kept:
            text += "\n\n" + _left_out(title, entries)
            continue
        body = "\n".join(kept)
        if left_out:
            body += "\n" + _left_out(title, entries[len(kept):])
        text += opening + body + closing
    return text + "\n"


def _kind(type_token: str) -> str:
    """`grafana:alerting/ruleGroup:RuleGroup` → `RuleGroup`; the alert-rule pseudo type stays readable."""
    return "alert rule" if type_token == ALERT_RULE_TYPE else type_token.rsplit(":", 1)[-1]


def _left_out(title: str, entries: list[tuple[str, str]]) -> str:
    """`- … 12 more changed entries left out (…): 9 alert rule, 3 ContactPoint`."""
    by_kind: dict[str, int] = {}
    for type_token, _ in entries:
        by_kind[_kind(type_token)] = by_kind.get(_kind(type_token), 0) + 1
    kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(by_kind.items(), key=lambda item: (-item[1], item[0])))
    return (f"- … {len(entries)} more {title.lower()} entries not shown (GitHub's comment size limit): {kinds}; "
            "the job summary and `--format text` have them all")


def _reserve(title: str, entries: list[tuple[str, str]]) -> int:
    """Room a later section needs for at least its left-out line."""
    return len(_left_out(title, entries)) + 4
