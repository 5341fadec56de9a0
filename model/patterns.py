"""`pattern()`: a module's regular expression, compiled the first time it is used rather than when it is imported.

Python's `re` compiles in Python: ~0.1 ms a pattern, and the project's modules declare ~60 at their top. Every
`review plan`, `pulumi up` and test process imports them; a 1-app plan uses fewer than half (the rest check
Sentry grouping rules, scrub HTTP errors, validate provider inputs: docs/performance.md, round 7). A pattern made
here compiles on its first attribute read and keeps each attribute it was asked for in its own `__dict__`, so
from then on `PATTERN.match` is one dict lookup, as on a compiled pattern. tests/model/test_patterns.py compiles
every pattern of every project module, so a mistyped expression still fails the suite, not a rare path.
"""

from __future__ import annotations

import re
from typing import Any


class LazyPattern:
    """Stands for `re.compile(source, flags)`: answers every attribute of the compiled pattern."""

    def __init__(self, source: str, flags: int | re.RegexFlag = 0) -> None:
        self.source = source
        self.flags_given = flags

    def compiled(self) -> re.Pattern[str]:
        """The compiled pattern (compiled now if it was not yet)."""
        found = self.__dict__.get("_compiled")
        if found is None:
            found = self.__dict__["_compiled"] = re.compile(self.source, self.flags_given)
        return found

    def __getattr__(self, name: str) -> Any:
        # Called only for a name not in the instance's __dict__: the first read of each pattern attribute.
        if name.startswith("_"):
            raise AttributeError(name)  # copy/pickle probes and our own `_compiled` are not pattern attributes
        value = getattr(self.compiled(), name)
        self.__dict__[name] = value
        return value

    def __repr__(self) -> str:
        return f"pattern({self.source!r})"


def pattern(source: str, flags: int | re.RegexFlag = 0) -> LazyPattern:
    """`re.compile(source, flags)`, compiled when first used."""
    return LazyPattern(source, flags)
