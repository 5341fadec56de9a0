"""The offline diff on maintenance and the status page: what a reviewer must be warned about."""

from __future__ import annotations

from review.diff import compare

PAGERDUTY_WINDOW = "pulumi-python:dynamic/pagerduty:MaintenanceWindow"
STATUS_PAGE = "pulumi-python:dynamic/uptimerobot:StatusPage"
MUTE_TIMING = "grafana:alerting/muteTiming:MuteTiming"


def _resource(type_token: str, name: str, inputs: dict, *, protected: bool = False) -> dict:
    return {"type": type_token, "name": name, "urn": f"urn:pulumi:prod::p::{type_token}::{name}",
            "component": False, "service": "x", "flags": ["protected"] if protected else [], "inputs": inputs}


def test_removing_a_pagerduty_window_is_a_plain_removal_since_it_cancels_the_window():
    window = _resource(PAGERDUTY_WINDOW, "maintenance-upgrade", {
        "start_time": "2027-01-16T22:00:00+01:00", "end_time": "2027-01-17T02:00:00+01:00", "service_ids": ["P1"]})
    diff = compare({"resources": [window]}, {"resources": []})
    assert diff.danger() == []
    assert len(diff.removed) == 1 and "maintenance-upgrade" in diff.removed[0].label


def test_removing_a_mute_timing_is_no_danger():
    timing = _resource(MUTE_TIMING, "maintenance-upgrade", {"name": "maintenance-upgrade"})
    assert compare({"resources": [timing]}, {"resources": []}).danger() == []


def test_deleting_the_status_page_is_a_danger_naming_its_public_address():
    page = _resource(STATUS_PAGE, "status-page", {"name": "Status", "monitor_ids": ["1"]}, protected=True)
    [line] = compare({"resources": [page]}, {"resources": []}).danger()
    assert "status-page is deleted (protected)" in line and "public address" in line
