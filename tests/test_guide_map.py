"""docs/guide-map.md keeps up with the guide's alert and budget rows, and with the policy that implements them."""

from __future__ import annotations

import re

import pytest

from model.load import load_estate
from tests.conftest import ROOT

GUIDE = ROOT / "docs/monitoring-guide.md"
MAP = ROOT / "docs/guide-map.md"
SEVERITY_HEADINGS = {"Critical Alerts": "critical", "Warning Alerts": "warning", "Info Alerts": "info"}
_UNIT = {"%": 1.0, "ms": 0.001, "second": 1.0, "seconds": 1.0, "/hour": 1.0, "": 1.0}
_LEVEL = re.compile(r"[<>]\s*(?P<number>[0-9.]+)\s*(?P<unit>%|ms|seconds?|/hour|)")


def _bullets_under(text: str, heading: str) -> list[str]:
    """The `- ` bullets of one section (### or ##) of the guide."""
    section = re.search(rf"^#+ {re.escape(heading)}[^\n]*\n(?P<body>.*?)(?=^#)", text, re.M | re.S)
    assert section, heading
    return [line[2:].strip() for line in section["body"].splitlines() if line.startswith("- ")]


def guide_alert_rows() -> list[tuple[str, str]]:
    """(severity, bullet) for every row of the guide's Alerting Rules."""
    text = GUIDE.read_text(encoding="utf-8")
    return [(sev, bullet) for heading, sev in SEVERITY_HEADINGS.items() for bullet in _bullets_under(text, heading)]


def guide_budget_rows() -> list[str]:
    return _bullets_under(GUIDE.read_text(encoding="utf-8"), "Performance Budgets")


def map_rows(section: str) -> dict[str, str]:
    """First column -> second column of the table under one `## ` heading of the map."""
    text = MAP.read_text(encoding="utf-8")
    body = re.search(rf"^## {re.escape(section)}\n(?P<body>.*?)(?=^## |\Z)", text, re.M | re.S)
    assert body, section
    rows = {}
    for line in body["body"].splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) >= 2 and not set(cells[0]) <= {"-"} and cells[0] != "guide row":
            rows[cells[0]] = cells[1]
    return rows


def guide_level(text: str) -> float | None:
    """The number a guide row sets, in the policy's unit (ratio for error rates, seconds, percent, count)."""
    match = _LEVEL.search(text)
    if not match:
        return None
    value = float(match["number"]) * _UNIT[match["unit"]]
    if match["unit"] == "%" and "Error rate" in text:
        value /= 100  # error rates are ratios in the policy; disk and memory stay percent
    return value


@pytest.fixture(scope="module")
def estate():
    return load_estate(ROOT)


def _alerts(estate):
    return {rule.id: rule for app in estate.apps for rule in app.alerts if rule.budget_id is None}


def _budgets(estate):
    return {budget.id: budget for app in estate.apps for budget in app.budgets}


def test_every_alert_row_of_the_guide_is_mapped():
    rows = map_rows("Alerting rules")
    missing = [f"{sev.capitalize()}: {bullet}" for sev, bullet in guide_alert_rows()
               if f"{sev.capitalize()}: {bullet}" not in rows]
    assert missing == []
    assert len(guide_alert_rows()) == 15


def test_every_budget_row_of_the_guide_is_mapped():
    rows = map_rows("Performance budgets")
    assert [b for b in guide_budget_rows() if b not in rows] == []


def test_every_query_performance_row_of_the_guide_is_mapped_to_a_panel_or_a_manual_step():
    rows = map_rows("Database monitoring (Fly Postgres, postgres_exporter)")
    bullets = _bullets_under(GUIDE.read_text(encoding="utf-8"), "Query Performance")
    assert len(bullets) == 5
    for bullet in bullets:
        assert bullet in rows, bullet
        assert "estate:" in rows[bullet], bullet  # each has a dashboard panel; what it cannot show is manual


def test_mapped_alerts_exist_with_the_guides_severity_and_level(estate):
    alerts = _alerts(estate)
    for row, implemented_by in map_rows("Alerting rules").items():
        severity = row.split(":", 1)[0].lower()
        ids = re.findall(r"alert `([a-z0-9-]+)`", implemented_by)
        assert ids, row
        level = guide_level(row)
        for alert_id in ids:
            rule = alerts.get(alert_id)
            assert rule is not None, f"{row}: no alert {alert_id} in the policy"
            assert rule.severity == severity, row
            if "minutes" in row:  # "Application down (> 5 minutes)": the wait, not a threshold
                assert rule.for_seconds == float(re.search(r"> (\d+) minutes", row)[1]) * 60, alert_id
            elif level is not None and rule.threshold is not None:
                assert rule.threshold == pytest.approx(level), f"{row}: {alert_id} threshold {rule.threshold}"


def test_mapped_budgets_exist_at_the_guides_level(estate):
    budgets = _budgets(estate)
    for row, implemented_by in map_rows("Performance budgets").items():
        [budget_id] = re.findall(r"budget `([a-z0-9-]+)`", implemented_by)
        assert budget_id in budgets, row
        assert budgets[budget_id].max_seconds == pytest.approx(guide_level(row)), row


def test_every_alert_and_budget_of_the_policy_appears_in_the_map(estate):
    text = MAP.read_text(encoding="utf-8")
    assert [a for a in _alerts(estate) if f"alert `{a}`" not in text] == []
    assert [b for b in _budgets(estate) if f"budget `{b}`" not in text] == []


def test_the_level_reader_reads_the_guides_units():
    assert guide_level("Error rate > 5%") == pytest.approx(0.05)
    assert guide_level("Disk usage > 90%") == 90
    assert guide_level("API response time P95: < 500ms") == pytest.approx(0.5)
    assert guide_level("Failed login attempts > 100/hour") == 100
    assert guide_level("New user registrations") is None


def test_the_guides_error_grouping_and_n_plus_one_rows_are_implemented_by_the_estate():
    rows = map_rows("Error tracking (Sentry)")
    grouping = next(text for row, text in rows.items() if row.startswith("Error grouping"))
    n_plus_one = rows["Database queries: N+1 queries"]
    bullets = _bullets_under(GUIDE.read_text(encoding="utf-8"), "Error Grouping")
    assert len(bullets) == 4  # error type, stack trace fingerprint, user context, request path
    for text in (grouping, n_plus_one):
        assert text.startswith("estate:") and "not yet" not in text
    assert "{{ error.type }}" in grouping and "{{ default }}" in grouping and "{{ transaction }}" in grouping
    assert "user" in grouping and "n_plus_one_db_queries_detection_enabled" in n_plus_one
