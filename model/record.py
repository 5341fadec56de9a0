"""`@record`: a frozen dataclass whose comparing, hashing, printing and immutability are shared, not compiled per class.

`@dataclass(frozen=True)` writes six methods per class as source text and compiles each one (`exec`) when the class
is defined: over half of what importing this project's own modules costs, paid by every `review plan`, `pulumi up`
and test process before it does anything (docs/performance.md, "Frozen records"). A record's `__init__`, `__eq__`,
`__hash__`, `__repr__`, ordering and refusal to change a field are functions of this module instead, set on each
class with the field lists they read, taken once when the class is made; nothing is compiled.

Differences from `@dataclass(frozen=True)`, on purpose: a field is refused once it holds a value rather than always
(`__init__` fills every field, so after it every field is refused, as before, and so is any name that is not a
field; `__post_init__` still sets a derived field with `object.__setattr__`); `__init__` takes `*args, **kwargs`
and checks them itself (the same TypeErrors, worded as Python words them); `field(init=False)` and `kw_only` are
refused, as the model uses neither. Everything else (fields, defaults, `dataclasses.replace`, `fields`, `asdict`,
pickling, `__match_args__`) is the dataclass machinery itself. tests/model/test_record.py holds each behaviour
against `@dataclass(frozen=True)`.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import MISSING, FrozenInstanceError, dataclass, fields
from typing import Any, TypeVar, dataclass_transform

_Class = TypeVar("_Class", bound=type)


def _values(names: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]]:
    """The values of `names` of a record, as one tuple whatever their number (a dataclass compares and hashes
    such a tuple)."""
    if len(names) > 1:
        return operator.attrgetter(*names)
    if names:
        only = operator.attrgetter(names[0])
        return lambda obj: (only(obj),)
    return lambda obj: ()


def _init(self: Any, *args: Any, **kwargs: Any) -> None:
    names, defaults, factories, post_init = self._record_init
    if len(args) > len(names):
        raise TypeError(
            f"{self.__class__.__qualname__}.__init__() takes {len(names) + 1} positional arguments but "
            f"{len(args) + 1} were given"
        )
    values = dict(zip(names, args, strict=False))
    for name, value in kwargs.items():
        if name in values:
            raise TypeError(f"{self.__class__.__qualname__}.__init__() got multiple values for argument {name!r}")
        if name not in self._record_fields:
            raise TypeError(f"{self.__class__.__qualname__}.__init__() got an unexpected keyword argument {name!r}")
        values[name] = value
    if len(values) < len(names):
        missing = []
        for name in names:
            if name in values:
                continue
            if name in defaults:
                values[name] = defaults[name]
            elif name in factories:
                values[name] = factories[name]()
            else:
                missing.append(repr(name))
        if missing:
            raise TypeError(f"{self.__class__.__qualname__}.__init__() missing {len(missing)} required argument(s): "
                            + ", ".join(missing))
    # Straight into the instance's dictionary, in field order, as a frozen dataclass's object.__setattr__ puts them.
    self.__dict__.update({name: values[name] for name in names})
    if post_init:
        self.__post_init__()


def _setattr(self: Any, name: str, value: Any) -> None:
    if name in self.__dict__ or name not in self._record_fields:
        raise FrozenInstanceError(f"cannot assign to field {name!r}")
    object.__setattr__(self, name, value)


def _delattr(self: Any, name: str) -> None:
    raise FrozenInstanceError(f"cannot delete field {name!r}")


def _eq(self: Any, other: object) -> Any:
    if other.__class__ is not self.__class__:
        return NotImplemented
    return self._record_compared(self) == self._record_compared(other)


def _hash(self: Any) -> int:
    return hash(self._record_hashed(self))


def _repr(self: Any) -> str:
    shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._record_shown)
    return f"{self.__class__.__qualname__}({shown})"


def _ordering(compare: Callable[[Any, Any], bool]) -> Callable[[Any, object], Any]:
    def method(self: Any, other: object) -> Any:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return compare(self._record_compared(self), self._record_compared(other))

    return method


_SHARED: dict[str, Callable[..., Any]] = {
    "__init__": _init, "__setattr__": _setattr, "__delattr__": _delattr,
    "__eq__": _eq, "__hash__": _hash, "__repr__": _repr,
}
_ORDER: dict[str, Callable[..., Any]] = {
    "__lt__": _ordering(operator.lt), "__le__": _ordering(operator.le),
    "__gt__": _ordering(operator.gt), "__ge__": _ordering(operator.ge),
}


def _check_init_order(cls: type, declared: tuple[Any, ...]) -> None:
    """What dataclass checks while writing an `__init__`: every field is an argument, defaults come last."""
    defaulted = None
    for f in declared:
        if not f.init or f.kw_only:
            raise TypeError(f"record {cls.__qualname__}: field {f.name} is not a plain __init__ argument")
        if f.default is not MISSING or f.default_factory is not MISSING:
            defaulted = f.name
        elif defaulted is not None:
            raise TypeError(f"record {cls.__qualname__}: non-default argument {f.name!r} follows default argument")


@dataclass_transform(frozen_default=True)
def record(cls: _Class | None = None, /, *, order: bool = False) -> Any:
    """`@record` or `@record(order=True)`: what `@dataclass(frozen=True)` (with `order=True`) makes of `cls`."""

    def make(cls: _Class) -> _Class:
        shared = {**_SHARED, **(_ORDER if order else {})}
        defined = sorted(name for name in shared if name in cls.__dict__)
        if defined:  # a frozen dataclass refuses them too
            raise TypeError(f"record {cls.__qualname__} defines {', '.join(defined)} itself")
        made = dataclass(init=False, eq=False, repr=False)(cls)
        declared = fields(made)
        _check_init_order(made, declared)
        made._record_init = (
            tuple(f.name for f in declared),
            {f.name: f.default for f in declared if f.default is not MISSING},
            {f.name: f.default_factory for f in declared if f.default_factory is not MISSING},
            hasattr(made, "__post_init__"),
        )
        made._record_fields = frozenset(f.name for f in declared)
        made._record_compared = _values(tuple(f.name for f in declared if f.compare))
        made._record_hashed = _values(tuple(f.name for f in declared if (f.compare if f.hash is None else f.hash)))
        made._record_shown = tuple(f.name for f in declared if f.repr)
        for name, method in shared.items():
            setattr(made, name, method)
        return made

    return make if cls is None else make(cls)
