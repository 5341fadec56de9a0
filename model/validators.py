"""Value checks that need a real grammar: PromQL, e-mail addresses, URLs, numbers within their unit.

Each returns None when the value is fine, or a message saying what is wrong. They are pure and offline:
no DNS or HTTP look-ups, so a plan and a test run give the same answer anywhere.
"""

from __future__ import annotations

import math
from urllib.parse import urlsplit

import promql_parser

from model.limits import MAX_PROMQL_CHARS, MAX_PROMQL_DEPTH, MAX_PROMQL_OPERATORS
from model.patterns import pattern
from model.signals import UNIT_BOUNDS

_URL_SCHEMES = ("http", "https")
# Outside any 64-bit float's whole-number precision (2**53) a count threshold cannot even be compared exactly.
MAX_COUNT = float(2**53)


def promql_problem(expr: str) -> str | None:
    """Why `expr` (placeholders already filled) is not a PromQL expression an alert rule can evaluate."""
    too_big = _promql_size_problem(expr)
    if too_big:
        return too_big
    try:
        parsed = promql_parser.parse(expr)
    except ValueError as err:
        return f"not valid PromQL: {err}"
    except BaseException as err:  # a Rust panic surfaces as pyo3's PanicException, a BaseException
        if isinstance(err, KeyboardInterrupt | SystemExit):
            raise
        return f"not valid PromQL: the parser gave up ({type(err).__name__})"
    while isinstance(parsed, promql_parser.ParenExpr):
        parsed = parsed.expr
    if isinstance(parsed, promql_parser.MatrixSelector | promql_parser.SubqueryExpr):
        return "evaluates to a range vector (series[5m]): an alert needs an instant vector, e.g. rate(...[5m])"
    if isinstance(parsed, promql_parser.StringLiteral):
        return "evaluates to a string: an alert needs an instant vector or a number"
    return None


_PROMQL_STRING = pattern(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_PROMQL_OPERATOR = pattern(r"[-+*/%^]|==|!=|<=|>=|[<>]|\b(?:and|or|unless|atan2)\b")


def _promql_size_problem(expr: str) -> str | None:
    """Why `expr` is too big to hand to the parser safely (see model/limits.py), else None. Strings are skipped."""
    if len(expr) > MAX_PROMQL_CHARS:
        return f"is {len(expr):,} characters long; the limit is {MAX_PROMQL_CHARS:,}"
    code = _PROMQL_STRING.sub('""', expr)
    depth = deepest = 0
    for char in code:
        if char in "([{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in ")]}":
            depth -= 1
    if deepest > MAX_PROMQL_DEPTH:
        return f"nests brackets {deepest} deep; the limit is {MAX_PROMQL_DEPTH}"
    operators = len(_PROMQL_OPERATOR.findall(code))
    if operators > MAX_PROMQL_OPERATORS:
        return f"has {operators} operators; the limit is {MAX_PROMQL_OPERATORS}: split it into recording rules"
    return None


# Addresses of the plainest form: dot-, plus-, dash- or underscore-separated letters and digits before the @,
# lower-case dash-separated labels after it, a top-level domain of letters. email-validator accepts every one of
# them that passes the checks in _plainly_valid (tests/model/test_validators.py holds it to that); anything else
# goes to email-validator, whose regexes cost ~20 ms to import, which a plan of plain addresses no longer pays.
_PLAIN_ADDRESS = pattern(r"[A-Za-z0-9]+(?:[._+-][A-Za-z0-9]+)*@(?:[a-z0-9]+(?:-[a-z0-9]+)*\.)+[a-z]{2,63}")
# email-validator's SPECIAL_USE_DOMAIN_NAMES (2.4.0), which it rejects with their subdomains whatever the syntax;
# a test fails if the installed version's list differs.
SPECIAL_USE_DOMAINS = ("arpa", "invalid", "local", "localhost", "onion", "test")


def _plainly_valid(address: str) -> bool:
    """True for an address of the plainest form, within the lengths email-validator allows."""
    if len(address) > 254 or not _PLAIN_ADDRESS.fullmatch(address):
        return False
    local, domain = address.split("@")
    return (
        len(local) <= 64
        and len(domain) <= 253
        and all(len(label) <= 63 for label in domain.split("."))
        and not any(domain == name or domain.endswith("." + name) for name in SPECIAL_USE_DOMAINS)
    )


def email_problem(address: str) -> str | None:
    """Why `address` is not a plain addr-spec (`name@example.com`): syntax only, deliverability is not checked."""
    if _plainly_valid(address):
        return None
    from email_validator import EmailNotValidError, validate_email

    try:
        validate_email(address, check_deliverability=False)
    except EmailNotValidError as err:
        return str(err)
    return None


def url_problem(url: str) -> str | None:
    """Why `url` is not an absolute http(s) URL with a host and no whitespace."""
    if any(char.isspace() or ord(char) < 0x20 for char in url):
        return "contains a space or control character (encode it as %20, or remove it)"
    try:
        parts = urlsplit(url)
        port = parts.port  # parses the port: ValueError when it is not a number in 0..65535
    except ValueError as err:
        return f"cannot be parsed as a URL ({err})"
    if parts.scheme not in _URL_SCHEMES:
        shown = f'"{parts.scheme}"' if parts.scheme else "none"
        return f"needs an http:// or https:// scheme (found {shown})"
    if not parts.hostname:
        return "has no host name"
    if port == 0:
        return "port 0 is not a usable port"
    return None


def number_problem(value: float, unit: str) -> str | None:
    """Why `value` is not a usable threshold in `unit` (finite, and within the unit's range)."""
    if not math.isfinite(value):
        return f"{value} is not a finite number"
    low, high = unit_range(unit)
    if not low <= value <= high:
        hint = " (ratios are 0..1: write 0.05 for 5%)" if unit == "ratio" else ""
        shown_high = "2^53" if high == MAX_COUNT else f"{high:g}"
        return f"{value:g} is outside the {unit} range {low:g}..{shown_high}{hint}"
    return None


def unit_range(unit: str) -> tuple[float, float]:
    """The closed range a threshold in `unit` must fall in."""
    return UNIT_BOUNDS.get(unit, (0.0, MAX_COUNT))
