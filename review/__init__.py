"""Offline review: the plan (and later diff and gate) over the real program under the mock engine."""
