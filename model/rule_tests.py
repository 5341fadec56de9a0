"""promtool cases written in the policy beside an alert (`tests:`), parsed into specs with placeholders filled in.

A custom `expr:` alert must carry them: the generated cases feed a catalogue signal through its synthesiser,
and no synthesiser can know which series an arbitrary expression reads. Without cases its threshold, labels
and pending period would reach Grafana unproven, so the loader refuses it (docs/alert-tests.md).
"""

from __future__ import annotations

from model import specs
from model.signals import render_query, template_placeholders

Path_ = tuple[str | int, ...]


def rule_tests(
    alert: dict, base: Path_, placeholders: dict[str, str]
) -> tuple[tuple[specs.RuleTest, ...], list[tuple[Path_, str]]]:
    """The alert's own promtool cases, and (path, message) for each one that cannot be used."""
    problems: list[tuple[Path_, str]] = []
    cases = []
    written = alert.get("tests", [])
    if "expr" in alert and not written:
        problems.append(((*base, "expr"), "a custom expression needs `tests:` (promtool cases: input series and "
                                          "expected alerts): nothing else can prove it fires when it should"))
    for i, case in enumerate(written):
        path = (*base, "tests", i)
        series = []
        for j, item in enumerate(case["input_series"]):
            missing = sorted(template_placeholders(item["series"]) - set(placeholders))
            if missing:
                problems.append(((*path, "input_series", j, "series"),
                                 f"no value for {', '.join('${' + m + '}' for m in missing)} in this app"))
                continue
            series.append((render_query(item["series"], placeholders), item["values"]))
        expect = tuple(
            specs.ExpectedAt(e["at"], e["firing"], tuple(sorted(e.get("labels", {}).items())))
            for e in case["expect"]
        )
        cases.append(specs.RuleTest(case["name"], case.get("interval", "1m"), tuple(series), expect))
    if written and "expr" in alert and not any(e.firing for case in cases for e in case.expect):
        problems.append(((*base, "tests"), "no case expects the alert to fire: add one that does"))
    return tuple(cases), problems
