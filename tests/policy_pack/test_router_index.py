"""The indexed notification-policy router reaches exactly the contact points a plain Alertmanager walk reaches."""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

import pytest

from policy_pack import rules
from tests.estates import STACKS, declare

LABELS = ("app", "severity", "team", "audience")
VALUES = ("", "a", "b", "c", "shop-api", "critical", "warning", "info")


def plain_walk(policy: Mapping[str, Any], labels: Mapping[str, str]) -> list[str]:
    """Alertmanager routing as the spec says it, child by child, every matcher tested (no index)."""

    def walk(route: Mapping[str, Any], inherited: str) -> list[str]:
        point = route.get("contactPoint") or inherited
        reached: list[str] = []
        for child in route.get("policies") or []:
            if all(rules._matcher_holds(m, labels) for m in child.get("matchers") or []):
                reached += walk(child, point)
                if not child.get("continue"):
                    break
        return reached or [point]

    return [name for name in walk(policy, "") if name]


def _random_route(rng: random.Random, depth: int, number: int) -> dict[str, Any]:
    shared = rng.choice(LABELS)  # most siblings test one label for equality: what the index is for
    matchers = []
    for _ in range(rng.randint(0, 3)):
        label = shared if rng.random() < 0.7 else rng.choice(LABELS)
        operator = rng.choices(["=", "!=", "=~", "!~"], weights=[6, 1, 1, 1])[0]
        value = rng.choice(VALUES) if operator in ("=", "!=") else rng.choice(["a|b", "s.*", ".*", "c"])
        matchers.append({"label": label, "match": operator, "value": value})
    route: dict[str, Any] = {"matchers": matchers, "continue": rng.random() < 0.3}
    if rng.random() < 0.8:
        route["contactPoint"] = f"point-{number}"
    if depth < 3 and rng.random() < 0.5:
        route["policies"] = [_random_route(rng, depth + 1, number * 20 + i) for i in range(rng.randint(0, 12))]
    return route


def _random_labels(rng: random.Random) -> dict[str, str]:
    return {label: rng.choice(VALUES) for label in LABELS if rng.random() < 0.8}


def test_random_trees_route_every_label_set_as_the_plain_walk_does(monkeypatch):
    indexes: list[object] = []
    index_of = rules._child_index
    monkeypatch.setattr(rules, "_child_index", lambda children: indexes.append(index_of(children)) or indexes[-1])
    rng = random.Random(1207)
    for number in range(400):
        policy = {"contactPoint": "root", "policies": [_random_route(rng, 1, number * 40 + i)
                                                        for i in range(rng.randint(1, 16))]}
        route = rules.router(policy)
        for _ in range(25):
            labels = _random_labels(rng)
            assert route(labels) == plain_walk(policy, labels), (policy, labels)
    assert sum(index is not None for index in indexes) > 100  # the index was taken, not only the plain path


def _tree_and_alerts(stack: str) -> tuple[dict[str, Any], list[dict[str, str]]]:
    recording = declare(*STACKS[stack]).recording
    trees = recording.by_type(rules.NOTIFICATION_POLICY)
    alerts = [dict(rule.get("labels") or {}) for group in recording.by_type(rules.RULE_GROUP)
              for rule in group.inputs.get("rules") or []]
    return (trees[0].inputs if trees else {}), alerts


@pytest.mark.parametrize("stack", sorted(STACKS))
def test_every_estates_tree_routes_its_alerts_and_strangers_as_the_plain_walk_does(stack):
    tree, alerts = _tree_and_alerts(stack)
    rng = random.Random(stack)
    strangers = [{**alert, "app": rng.choice(["", "nobody"])} for alert in alerts[:20]]
    route = rules.router(tree)
    assert alerts
    for labels in alerts + strangers + [{}]:
        assert route(labels) == plain_walk(tree, labels), labels
