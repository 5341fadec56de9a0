"""Shared pieces of the PR comments: fitting collapsed details under GitHub's comment size limit."""

from __future__ import annotations

from collections.abc import Sequence

# GitHub rejects comments over 65,536 characters; stay well under it.
MAX_COMMENT_CHARS = 60_000


def take_fitting(blocks: Sequence[str], budget: int, separator: str = "") -> tuple[list[str], int]:
    """The leading `blocks` whose joined length fits in `budget`, and how many were left out."""
    kept: list[str] = []
    used = 0
    for block in blocks:
        cost = len(block) + (len(separator) if kept else 0)
        if used + cost > budget:
            break
        kept.append(block)
        used += cost
    return kept, len(blocks) - len(kept)
