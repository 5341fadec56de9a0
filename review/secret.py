"""The marker for a value the engine holds as a secret (its own module: readers of plans need it without the SDK)."""

from __future__ import annotations

from typing import Any


class Secret:
    """A value the engine holds as a secret; its text is never rendered."""

    __slots__ = ("_value",)

    def __init__(self, value: Any) -> None:
        self._value = value

    def reveal(self) -> Any:
        """The plain value, for assertions in tests only."""
        return self._value

    def __repr__(self) -> str:
        return "[secret]"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("secret", repr(self._value)))
