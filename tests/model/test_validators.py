"""The value checks behind the schema and the loader: PromQL, e-mail addresses, URLs, numbers within their unit."""

from __future__ import annotations

import math

import pytest

from model.signals import SIGNALS, render_query
from model.validators import MAX_COUNT, email_problem, number_problem, promql_problem, url_problem


@pytest.mark.parametrize("name", sorted(name for name, signal in SIGNALS.items() if signal.query))
def test_every_catalogued_signal_query_is_valid_promql_once_its_placeholders_are_filled(name: str):
    query = SIGNALS[name].query
    values = {"app": "app", "pg_app": "app-db", "app_and_db": "app|app-db", "prefix": "app"}
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
