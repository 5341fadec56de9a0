"""Sentry's issue grouping for an app: the rule text the policy generates, and the grammar check it must pass.

Sentry stores two texts per project (`PUT /api/0/projects/{org}/{project}/`): `fingerprintingRules`
("matchers -> fingerprint" lines) and `groupingEnhancements` (stack-trace rules: "matchers actions" lines). A
line Sentry cannot parse is a 400 at `pulumi up`; the check here refuses it when the policy loads instead, with
the rule's own line. It accepts a subset of Sentry's grammar (`src/sentry/grouping/fingerprinting/` and
`src/sentry/grouping/enhancer/`): the matchers and actions Sentry documents, no frame-range (`[ ... ] |`) syntax,
and only fingerprint variables Sentry resolves (Sentry itself keeps an unknown `{{ name }}` as literal text,
which would silently split or merge issues). docs/sentry.md, "Error grouping", says what the guide's four
dimensions become.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from model.patterns import pattern
from model.specs import SentryGrouping

# What every generated text starts with: Sentry keeps comments, so the project settings page says who owns it.
HEADER = "# set by the monitoring estate (policy: error_tracking.grouping)"

# Fingerprint-rule matchers (Sentry's MATCHERS table) plus `tags.<name>`.
FINGERPRINT_MATCHERS = frozenset({
    "error.type", "error.value", "stack.module", "stack.abs_path", "stack.package", "stack.function", "message",
    "logger", "level", "type", "value", "module", "path", "package", "function", "family", "app", "sdk", "release",
})
# The `{{ ... }}` variables Sentry substitutes in a fingerprint, plus `tags.<name>`.
FINGERPRINT_VARIABLES = frozenset({
    "default", "transaction", "error.type", "type", "error.value", "value", "function", "stack.function",
    "module", "stack.module", "package", "stack.package", "level", "logger", "message",
})
# Stack-trace rule matchers and actions.
STACK_MATCHERS = frozenset({
    "family", "path", "stack.abs_path", "module", "stack.module", "function", "stack.function", "package",
    "stack.package", "app", "type", "error.type", "value", "error.value", "mechanism", "error.mechanism", "category",
})
STACK_FLAG_ACTION = pattern(r"^[v^]?[+-](app|group)$")
STACK_VAR_ACTIONS = {
    "max-frames": pattern(r"^\d+$"),
    "min-frames": pattern(r"^\d+$"),
    "invert-stacktrace": pattern(r"^(1|0|true|false|yes|no)$"),
    "category": pattern(r"^[A-Za-z0-9_.-]+$"),
}
_MATCHER = pattern(r'!?(?P<key>[A-Za-z0-9_.-]+):(?P<arg>"(?:[^"\\]|\\.)*"|[^\s"]\S*)')
_FP_VALUE = pattern(r'\s*(?:(?P<attr>[A-Za-z0-9_.-]+)="(?:[^"\\]|\\.)*"|"(?:[^"\\]|\\.)*"'
                       r'|\{\{\s*(?P<var>\S+?)\s*\}\}|[^\s{,]+)\s*,?')
TAG_NAME = pattern(r"^[A-Za-z0-9_.:-]{1,32}$")  # Sentry's tag-key limit is 32 characters


def fingerprint_rule_problem(line: str) -> str | None:
    """Why Sentry would refuse (or silently misread) one fingerprint rule line, or None when it is fine."""
    text = line.strip()
    if not text or text.startswith("#"):
        return None
    if "\n" in text or "\r" in text:
        return "one rule per list item: no line breaks inside a rule"
    matchers, arrow, fingerprint = _split_at_arrow(text)
    if not arrow:
        return 'a fingerprint rule is "<matcher>:<value> ... -> <fingerprint>": "->" is missing'
    problem = _matchers_problem(matchers, FINGERPRINT_MATCHERS, allow_tags=True)
    if problem:
        return problem
    rest = fingerprint.strip()
    if not rest:
        return 'nothing after "->": give the fingerprint, e.g. {{ default }}'
    position = 0
    while position < len(rest):
        value = _FP_VALUE.match(rest, position)
        if value is None or value.end() == position:
            return f'cannot read the fingerprint near "{rest[position:position + 30]}"'
        if value["attr"] and value["attr"] != "title":
            return f'unknown fingerprint attribute "{value["attr"]}" (Sentry knows only title="...")'
        variable = value["var"]
        if variable and variable not in FINGERPRINT_VARIABLES and not _tag_variable(variable):
            known = ", ".join(sorted(FINGERPRINT_VARIABLES))
            return f'unknown fingerprint variable "{{{{ {variable} }}}}": use one of {known} or tags.<name>'
        position = value.end()
    return None


def stack_trace_rule_problem(line: str) -> str | None:
    """Why Sentry would refuse one stack-trace rule (grouping enhancement) line, or None when it is fine."""
    text = line.strip()
    if not text or text.startswith("#"):
        return None
    if "\n" in text or "\r" in text:
        return "one rule per list item: no line breaks inside a rule"
    if text.startswith("[") or "|" in text:
        return "frame-range rules ([ ... ] | ...) are not supported here: write one matcher list per rule"
    tokens = _split(text)
    matchers = [t for t in tokens if _MATCHER.fullmatch(t)]
    actions = tokens[len(matchers):]
    if not matchers or tokens[: len(matchers)] != matchers:
        return 'a stack-trace rule is "<matcher>:<value> ... <action>", starting with a matcher (e.g. module:MyApp.*)'
    problem = _matchers_problem(" ".join(matchers), STACK_MATCHERS, allow_tags=False)
    if problem:
        return problem
    if not actions:
        return "no action after the matchers: add +app, -app, +group, -group or max-frames=N"
    for action in actions:
        name, equals, value = action.partition("=")
        if equals:
            pattern = STACK_VAR_ACTIONS.get(name)
            if pattern is None:
                return f'unknown action "{name}=": use one of {", ".join(sorted(STACK_VAR_ACTIONS))}'
            if not pattern.match(value):
                return f'invalid value "{value}" for "{name}"'
        elif not STACK_FLAG_ACTION.match(action):
            return f'unknown action "{action}": use [^v]+app, [^v]-app, [^v]+group or [^v]-group'
    return None


def _split_at_arrow(text: str) -> tuple[str, str, str]:
    """`text.partition("->")`, skipping an arrow inside a quoted matcher argument (`message:"a -> b"`)."""
    quoted = False
    for index, char in enumerate(text):
        if char == '"' and (index == 0 or text[index - 1] != "\\"):
            quoted = not quoted
        elif not quoted and text.startswith("->", index):
            return text[:index], "->", text[index + 2:]
    return text, "", ""


def _split(text: str) -> list[str]:
    """Whitespace-separated tokens, with a double-quoted matcher argument kept whole."""
    return re.findall(r'(?:[^\s"]+"(?:[^"\\]|\\.)*"|[^\s"]+)', text)


def _matchers_problem(text: str, known: frozenset[str], *, allow_tags: bool) -> str | None:
    tokens = _split(text.strip())
    if not tokens:
        return "no matcher: start with one, e.g. error.type:DBConnection.ConnectionError"
    for token in tokens:
        match = _MATCHER.fullmatch(token)
        if match is None:
            return f'"{token}" is not a matcher (<name>:<value>, value quoted if it has spaces)'
        key = match["key"]
        if key in known or (allow_tags and key.startswith("tags.") and TAG_NAME.match(key[5:])):
            continue
        return f'unknown matcher "{key}": use one of {", ".join(sorted(known))}' + (" or tags.<name>" if allow_tags
                                                                                   else "")
    return None


def _tag_variable(variable: str) -> bool:
    return variable.startswith("tags.") and bool(TAG_NAME.match(variable[5:]))


def fingerprinting_rules(grouping: SentryGrouping) -> str:
    """The project's fingerprint rules: the policy's own lines first (Sentry applies the first match), then the
    guide's grouping for every exception: error type, Sentry's stack-trace grouping, the request's transaction
    (the route, not the raw URL) and the user's role tag."""
    parts = ["{{ error.type }}", "{{ default }}", "{{ transaction }}"]
    if grouping.user_tag:
        parts.append(f"{{{{ tags.{grouping.user_tag} }}}}")
    return _text([*grouping.fingerprint_rules, f"error.type:* -> {', '.join(parts)}"])


def grouping_enhancements(grouping: SentryGrouping) -> str:
    """The project's stack-trace rules: the app's own modules are in-app (so their frames make the stack-trace
    fingerprint), then the policy's own lines."""
    lines: list[str] = []
    for module in grouping.in_app_modules:
        lines += [f"stack.module:{module} +app", f"stack.module:{module}.* +app"]
    return _text([*lines, *grouping.stack_trace_rules])


def _text(lines: Iterable[str]) -> str:
    return "\n".join([HEADER, *(line.strip() for line in lines)])


def stored_form(text: str | None) -> str:
    """A rules text as Sentry stores it: its serializer field trims surrounding whitespace; None reads back ""."""
    return (text or "").strip()


def policy_problems(app_data: dict) -> list[tuple[tuple[str | int, ...], str]]:
    """(path, message) for every grouping rule and Sentry adoption entry of one app file that cannot work."""
    problems: list[tuple[tuple[str | int, ...], str]] = []
    tracking = app_data.get("error_tracking") or {}
    grouping = tracking.get("grouping") or {}
    checks = (("fingerprint_rules", fingerprint_rule_problem), ("stack_trace_rules", stack_trace_rule_problem))
    for key, check in checks:
        for index, line in enumerate(grouping.get(key) or []):
            problem = check(line) if isinstance(line, str) else None
            if problem:
                problems.append((("error_tracking", "grouping", key, index), problem))
    adopt = app_data.get("adopt") or {}
    for key in ("sentry_project", "sentry_key"):
        if adopt.get(key) and not tracking:
            problems.append((("adopt", key), "this app declares no error_tracking: there is no Sentry object to adopt"))
    return problems


def grouping_from(tracking: dict) -> SentryGrouping:
    """The app's `error_tracking.grouping` block (already schema-checked) as a spec, defaults filled in."""
    block = tracking.get("grouping") or {}
    return SentryGrouping(
        user_tag=block.get("user_tag", SentryGrouping.user_tag),
        in_app_modules=tuple(block.get("in_app_modules", ())),
        fingerprint_rules=tuple(line.strip() for line in block.get("fingerprint_rules", ())),
        stack_trace_rules=tuple(line.strip() for line in block.get("stack_trace_rules", ())),
    )
