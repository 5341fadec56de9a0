"""Where one app's alerts go, per severity: the estate's channels, the app's own `routes`, and paging on or off."""

from __future__ import annotations

from collections.abc import Iterable

from model import specs

Path_ = tuple[str | int, ...]


def resolve_routes(
    data: dict,
    severities: Iterable[specs.Severity],
    channels: Iterable[specs.Channel],
    used_severities: set[str],
) -> tuple[tuple[tuple[str, tuple[str, ...]], ...], list[tuple[Path_, str]]]:
    """(severity, channel ids) for every severity, and (path, message) for each routing mistake in the app file.

    An app that does not page (`oncall.paging: false`) must say where the alerts of every severity that would
    page go instead (`routes.<severity>`): silently dropping the page would leave a critical alert unseen.
    """
    by_id = {c.id: c for c in channels}
    paging = data.get("oncall", {}).get("paging", True)
    overrides: dict = data.get("routes", {})
    problems: list[tuple[Path_, str]] = []
    routes = []
    for severity in severities:
        name = severity.name
        if name in overrides:
            chosen = tuple(overrides[name])
            for i, channel_id in enumerate(chosen):
                channel = by_id.get(channel_id)
                if channel is None:
                    problems.append((("routes", name, i), f'unknown channel "{channel_id}"'))
                elif channel.type == "pagerduty" and not paging:
                    problems.append((("routes", name, i), "this app does not page (oncall.paging is false)"))
            if not chosen and not severity.email_audience and name in used_severities:
                problems.append((("routes", name), f"routes {name} alerts nowhere"))
        else:
            chosen = severity.channels
            pages = any(by_id.get(c) is not None and by_id[c].type == "pagerduty" for c in chosen)
            if pages and not paging:
                if name in used_severities:
                    problems.append(
                        (("oncall", "paging"),
                         f"the app does not page, but its {name} alerts would: say where they go instead "
                         f"under routes.{name}")
                    )
                chosen = tuple(c for c in chosen if by_id[c].type != "pagerduty")
        routes.append((name, chosen))
    return tuple(routes), problems
