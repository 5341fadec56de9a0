"""Read Pulumi.yaml and Pulumi.<stack>.yaml the way the CLI would, without decrypting anything."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from model.config_refs import PROJECT_FILE
from model.errors import PolicyError, Problem
from model.limits import MAX_YAML_BYTES, read_source
from model.record import record
from model.strict_yaml import Document, load_document
from model.validators import url_problem

_TYPES = {"string": str, "integer": int, "boolean": bool, "array": list, "object": dict}
# Plain keys named like this hold URLs and must be absolute http(s) URLs (runbookBaseUrl): Pulumi.yaml has no
# way to declare a format, so the convention lives here (docs/bad-input.md).
_URL_SUFFIXES = ("Url", "URL")
# Plain keys named like this hold an IANA time zone (uptimeRobotTimeZone), by the same convention.
_ZONE_SUFFIX = "TimeZone"


@record
class StackConfig:
    """The config a stack's program would see, with secrets replaced by placeholders."""

    project: str
    stack: str
    values: dict[str, str]  # fully qualified key → value as the SDK receives it (strings)
    secret_keys: list[str]
    warnings: tuple[Problem, ...] = ()


def placeholder(key: str, ciphertext: str = "") -> str:
    """The stand-in the offline plan uses for a secret config value it cannot (and must not) read.

    It carries a digest of the ciphertext, so re-encrypting a new value (a rotation) shows as a change in
    the offline diff; the ciphertext is useless without the stack's key, and its digest more so.
    """
    if not ciphertext:
        return f"(secret config {key})"
    return f"(secret config {key} #{hashlib.sha256(ciphertext.encode()).hexdigest()[:12]})"


def load_stack_config(project_dir: Path, stack: str) -> StackConfig:
    """Project declarations + stack values; PolicyError listing every missing, mistyped, empty or unknown key.

    Checked the way `pulumi` would read them, plus what the CLI lets through but the program cannot use: an
    empty required value, a URL without scheme or host, a key in this project's namespace that Pulumi.yaml
    does not declare (a typo the CLI would silently keep).
    """
    problems: list[Problem] = []
    project_doc = _read(project_dir / PROJECT_FILE, problems)
    stack_name = f"Pulumi.{stack}.yaml"
    stack_doc = _read(project_dir / stack_name, problems)
    declared = _config_section(project_doc, problems)
    raw = _config_section(stack_doc, problems)
    if problems or project_doc is None or stack_doc is None or declared is None or raw is None:
        raise PolicyError(problems)
    project = project_doc.data.get("name")
    values: dict[str, str] = {}
    secret_keys: list[str] = []
    warnings: list[Problem] = []

    def qualify(key: str) -> str:
        return key if ":" in key else f"{project}:{key}"

    def stack_line(key: str) -> int:
        return stack_doc.line_of(("config", key))

    own = {qualify(str(k)) for k in declared}
    for key, value in raw.items():
        full = qualify(str(key))
        if full.startswith(f"{project}:") and full not in own:
            bare = full.split(":", 1)[1]
            import difflib  # here: only a mistake needs a suggestion; a valid plan should not pay for importing it

            hint = difflib.get_close_matches(bare, [str(k) for k in declared], n=1)
            suggestion = f' (did you mean "{hint[0]}"?)' if hint else f" (declared: {', '.join(map(str, declared))})"
            problems.append(Problem(stack_name, stack_line(key), full, f"unknown config key{suggestion}"))
            continue
        if isinstance(value, dict) and set(value) == {"secure"}:
            values[full] = placeholder(full, str(value["secure"]))
            secret_keys.append(full)
        else:
            values[full] = value if isinstance(value, str) else _to_config_string(value)

    for key, spec in declared.items():
        full = qualify(str(key))
        spec = spec if isinstance(spec, dict) else {"default": spec}
        line = project_doc.line_of(("config", key))
        if spec.get("secret"):
            if full in values and full not in secret_keys:
                # Declared secret but written in plain text: treat as secret anyway, and say so.
                warnings.append(
                    Problem(
                        stack_name, stack_line(_raw_key(raw, key, full)), full,
                        "is declared secret but stored in plain text: set it with `pulumi config set --secret`",
                    )
                )
            if full not in values:
                values[full] = placeholder(full)
                warnings.append(
                    Problem(stack_name, 0, full, "secret not set: `pulumi up` will stop until it is "
                            f"(pulumi config set --secret {key} <value>)")
                )
            if full not in secret_keys:
                secret_keys.append(full)
            continue
        if full not in values:
            if "default" in spec:
                values[full] = _to_config_string(spec["default"])
            else:
                # Nothing to point at in the stack file but the section the value belongs in.
                problems.append(
                    Problem(
                        stack_name, stack_doc.line_of(("config",)), full,
                        f"is required (declared in {PROJECT_FILE} line {line}): pulumi config set {key} <value>",
                    )
                )
            continue
        if full in secret_keys:
            continue  # a `secure:` value for a plain key: its type cannot be seen without decrypting
        raw_key = _raw_key(raw, key, full)
        problem = value_problem(str(key), spec.get("type", "string"), raw.get(raw_key))
        if problem:
            problems.append(Problem(stack_name, stack_line(raw_key), full, problem))
    if problems:
        raise PolicyError(problems)
    return StackConfig(project=str(project), stack=stack, values=values, secret_keys=sorted(secret_keys),
                       warnings=tuple(warnings))


def value_problem(key: str, declared_type: str, value: Any) -> str | None:
    """Why a plain stack value does not fit its declaration: wrong type, empty, or (for `...Url` keys) no URL."""
    wanted = _TYPES.get(declared_type, str)
    if value is None or (isinstance(value, str) and not value.strip()):
        return f"is empty: set a value (pulumi config set {key} <value>)"
    if not isinstance(value, wanted) or (wanted is int and isinstance(value, bool)):
        hint = " (quote it in the stack file)" if wanted is str and isinstance(value, int | float | bool) else ""
        return f"must be of type {declared_type}, got {value!r}{hint}"
    if isinstance(value, str) and key.endswith(_URL_SUFFIXES):
        problem = url_problem(value)
        if problem:
            return f"is not a usable URL: {problem}"
    if isinstance(value, str) and key.endswith(_ZONE_SUFFIX) and not _is_zone(value):
        return f'"{value}" is not an IANA time zone (e.g. Europe/Berlin, Etc/UTC)'
    return None


def _is_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _raw_key(raw: dict, key: str, full: str) -> str:
    return full if full in raw else key


def _to_config_string(value: Any) -> str:
    import json

    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    return json.dumps(value)


def _read(path: Path, problems: list[Problem]) -> Document | None:
    if not path.is_file():
        problems.append(Problem(path.name, 0, "", "file not found"))
        return None
    text, unreadable = read_source(path, path.name, MAX_YAML_BYTES)
    if text is None:
        problems += unreadable
        return None
    doc, found = load_document(text, path.name)
    problems += found
    if doc is not None and doc.data is not None and not isinstance(doc.data, dict):
        problems.append(Problem(path.name, 1, "", "must be a mapping"))
        return None
    return doc


def _config_section(doc: Document | None, problems: list[Problem]) -> dict[str, Any] | None:
    """The file's `config:` mapping ({} when absent or empty); None, with a located problem, when it is not one."""
    if doc is None:
        return None
    section = (doc.data or {}).get("config")
    if section is None:
        return {}
    if not isinstance(section, dict):
        problems.append(Problem(doc.file, doc.line_of(("config",)), "config", "must be a mapping of key: value"))
        return None
    return section
