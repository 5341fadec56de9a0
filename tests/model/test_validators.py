"""The value checks behind the schema and the loader: PromQL, e-mail addresses, URLs, numbers within their unit."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest

from model.exporters import EXPORTERS
from model.signals import SIGNALS, render_query
from model.validators import (
    MAX_COUNT,
    SPECIAL_USE_DOMAINS,
    _plainly_valid,
    email_problem,
    number_problem,
    promql_problem,
    url_problem,
)
from tests.conftest import ROOT


@pytest.mark.parametrize("exporter", sorted(EXPORTERS))
@pytest.mark.parametrize("name", sorted(name for name, signal in SIGNALS.items() if signal.query))
def test_every_catalogued_signal_query_is_valid_promql_once_its_placeholders_are_filled(name: str, exporter: str):
    query = SIGNALS[name].query_for(EXPORTERS[exporter])
    values = {"app": "app", "pg_app": "app-db", "app_and_db": "app|app-db", "prefix": "app", "otp_app": "app_web"}
    assert promql_problem(render_query(query, values)) is None


@pytest.mark.parametrize(
    ("expr", "fragment"),
    [
        ("sum(rate(http_requests_total[5m])", "unclosed left parenthesis"),
        ("rate(http_requests_total)", "expected type matrix"),
        ("more than ten warnings an hour", "not valid PromQL"),
        ("http_requests_total[5m]", "range vector"),
        ('"a string"', "string"),
        ("", "not valid PromQL"),
    ],
)
def test_an_expression_an_alert_cannot_evaluate_is_refused_with_the_parsers_reason(expr: str, fragment: str):
    problem = promql_problem(expr)
    assert problem is not None and fragment in problem


def test_a_literal_dollar_inside_valid_promql_is_kept_and_accepted():
    template = 'label_replace(up{app="${app}"}, "host", "$1", "instance", "(.*):.*")'
    query = render_query(template, {"app": "web"})
    assert query == 'label_replace(up{app="web"}, "host", "$1", "instance", "(.*):.*")'
    assert promql_problem(query) is None


@pytest.mark.parametrize("address", ["dev-team@example.com", "first.last+tag@sub.example.org"])
def test_a_plain_addr_spec_is_an_e_mail_address(address: str):
    assert email_problem(address) is None


@pytest.mark.parametrize(
    "address",
    ["Dev Team <dev@example.com>", "dev@", "@example.com", "dev example.com", "dev@exa mple.com", "a@b@c.com"],
)
def test_anything_but_a_plain_addr_spec_is_refused(address: str):
    assert email_problem(address)


def test_an_e_mail_domain_is_not_looked_up(monkeypatch: pytest.MonkeyPatch):
    import socket

    def no_network(*args, **kwargs):
        raise AssertionError("the e-mail check must not resolve names")

    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    assert email_problem("someone@no-such-domain-for-sure.example") is None


@pytest.mark.parametrize("url", ["https://example.com", "http://example.com:8080/a/b?c=d", "https://[::1]/x"])
def test_an_absolute_http_url_with_a_host_is_a_url(url: str):
    assert url_problem(url) is None


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("https://exa mple.com", "space"),
        ("https://example.com/a\tb", "space"),
        ("example.com/runbooks", "scheme"),
        ("ftp://example.com", "scheme"),
        ("https:///path-only", "no host"),
        ("https://example.com:99999/", "cannot be parsed"),
        ("https://example.com:0/", "port 0"),
    ],
)
def test_a_url_without_scheme_or_host_or_with_spaces_is_refused(url: str, fragment: str):
    problem = url_problem(url)
    assert problem is not None and fragment in problem


@pytest.mark.parametrize(
    ("value", "unit"),
    [(0.0, "ratio"), (1.0, "ratio"), (0.0, "percent"), (100.0, "percent"), (0.0, "count"), (1e6, "count")],
)
def test_a_finite_number_within_its_units_range_is_a_threshold(value: float, unit: str):
    assert number_problem(value, unit) is None


@pytest.mark.parametrize(
    ("value", "unit"),
    [
        (math.inf, "count"), (-math.inf, "seconds"), (math.nan, "ratio"), (1.5, "ratio"), (-0.1, "ratio"),
        (100.5, "percent"), (-1.0, "count"), (MAX_COUNT * 2, "count"), (1e300, "seconds"),
    ],
)
def test_a_number_outside_its_units_range_or_not_finite_is_refused(value: float, unit: str):
    assert number_problem(value, unit)


def test_expressions_that_would_crash_or_stall_the_parser_are_refused_before_it_runs():
    # 5,000 chained `1+` overflow the Rust parser's stack (a segfault, beyond any except) and 20,000 chained
    # `or` run for minutes: run in a child interpreter so a regression fails this test, not the whole run.
    script = (
        "from model.validators import promql_problem\n"
        "for expr in ['1+' * 5000 + '1', 'up or ' * 20000 + 'up', '(' * 10000 + '1' + ')' * 10000,\n"
        "             '1+' * 900 + '1', 'up or ' * 300 + 'up', '(' * 40 + 'up' + ')' * 40]:\n"
        "    print(promql_problem(expr))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    reasons = result.stdout.splitlines()
    assert [reason.split(";")[0].split(" ")[0:2] for reason in reasons] == [
        ["is", "10,001"], ["is", "120,002"], ["is", "20,001"], ["has", "900"], ["has", "300"], ["nests", "brackets"],
    ]


def test_brackets_and_operators_inside_promql_strings_do_not_count_towards_the_limits():
    regex = "(" * 40 + ".*" + ")" * 40
    assert promql_problem(f'label_replace(up, "host", "$1", "instance", "{regex}")') is None
    assert promql_problem('up{path="' + "-+" * 100 + '"}') is None


def _library_verdict(address: str) -> str | None:
    """email-validator's own answer, asked directly."""
    from email_validator import EmailNotValidError, validate_email

    try:
        validate_email(address, check_deliverability=False)
    except EmailNotValidError as err:
        return str(err)
    return None


def test_the_plain_address_shortcut_matches_the_installed_email_validators_special_use_names():
    import email_validator

    assert set(SPECIAL_USE_DOMAINS) == set(email_validator.SPECIAL_USE_DOMAIN_NAMES)


@pytest.mark.parametrize(
    "address",
    [
        "ops@corp.local", "ops@example.test", "ops@svc.localhost", "a..b@example.com", ".a@example.com",
        "a.@example.com", "ops@example.c0m", "ops@example", "ops@-example.com", "ops@ab--cd.com",
        "ops@xn--nxasmq6b.com", "x" * 65 + "@example.com", "ops@" + "a" * 64 + ".com", "ops@10.0.0.1",
        "ops@EXAMPLE.COM", "dév@example.com", "ops@example.com.", "ops@1.2.3.4.in-addr.arpa",
    ],
)
def test_an_address_outside_the_plain_form_gets_email_validators_own_verdict(address: str):
    assert email_problem(address) == _library_verdict(address)


def test_every_address_the_plain_form_accepts_email_validator_accepts_too():
    import random

    rng = random.Random(5)
    local_pieces = ["a", "Z", "0", "a.b", "a-b", "a_b", "a+b", ".", "-", "..", "x" * 30]
    label_pieces = ["a", "0", "ab", "a-b", "-", "--", "xn", "b" * 30, "local", "test", "arpa"]
    top_levels = ["com", "io", "c0m", "x", "local", "test", "onion", "arpa", "invalid", "localhost", "q" * 64]
    shortcut_taken = 0
    for _ in range(20_000):
        local = "".join(rng.choice(local_pieces) for _ in range(rng.randint(0, 4)))
        labels = ["".join(rng.choice(label_pieces) for _ in range(rng.randint(1, 3))) for _ in range(rng.randint(0, 3))]
        address = f"{local}@{'.'.join([*labels, rng.choice(top_levels)])}"
        if _plainly_valid(address):
            shortcut_taken += 1
            assert _library_verdict(address) is None, address
        assert email_problem(address) == _library_verdict(address), address
    assert shortcut_taken > 300  # the property was exercised, not vacuous


def test_checking_plain_addresses_does_not_import_email_validator():
    import subprocess
    import sys

    from tests.conftest import ROOT

    probe = (
        "import sys; from model.validators import email_problem; "
        "assert email_problem('ops@example.com') is None; print('email_validator' in sys.modules)"
    )
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT)
    assert run.stdout.split() == ["False"]
