"""Everything the program reads from the repository, validated together: policies, dashboards, their links."""

from __future__ import annotations

import re
from pathlib import Path

from model.dashboards import BudgetPanelRef, Dashboard, check_budget_thresholds, load_dashboards
from model.errors import PolicyError, Problem
from model.load import load_estate
from model.specs import Budget, Estate

_HISTOGRAM = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)_bucket\b")


def budget_metric(budget: Budget) -> str:
    """The histogram a budget's query reads (the name dashboards must query to draw the budget)."""
    found = _HISTOGRAM.search(budget.query)
    if not found:
        raise ValueError(f"budget {budget.id}: its query reads no histogram")
    return found.group(0)


def _adopted_dashboards_exist(estate: Estate, dashboards: dict[str, Dashboard]) -> list[Problem]:
    adoption = estate.grafana_adoption
    if adoption is None:
        return []
    return [
        Problem(adoption.file, adoption.lines.get(uid, 0), f"adopt.grafana.dashboards[{i}]",
                f'no dashboard file dashboards/{uid}.json: only a dashboard the estate declares can be adopted')
        for i, uid in enumerate(adoption.dashboards)
        if uid not in dashboards
    ]


def load_inputs(root: Path) -> tuple[Estate, dict[str, Dashboard]]:
    """Policies and dashboards under `root`; one PolicyError listing every problem in either and between them."""
    problems: list[Problem] = []
    estate = dashboards = None
    try:
        estate = load_estate(root)
    except PolicyError as err:
        problems += err.problems
    try:
        dashboards = load_dashboards(root / "dashboards", root)
    except PolicyError as err:
        problems += err.problems
    if estate is not None and dashboards is not None:
        # Every performance budget must be visible on a dashboard as a threshold line.
        refs = [BudgetPanelRef(b.id, budget_metric(b), b.max_seconds) for app in estate.apps for b in app.budgets]
        problems += check_budget_thresholds(dashboards, refs)
        problems += _adopted_dashboards_exist(estate, dashboards)
    if problems or estate is None or dashboards is None:
        raise PolicyError(problems)
    return estate, dashboards
