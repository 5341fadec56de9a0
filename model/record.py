"""`@record`: a frozen dataclass whose comparing, hashing, printing and immutability are shared, not compiled per class.

`@dataclass(frozen=True)` writes six methods per class as source text and compiles each one (`exec`) when the class
is defined: over half of what importing this project's own modules costs, paid by every `review plan`, `pulumi up`
and test process before it does anything (docs/performance.md, round 6). A record's `__init__`, `__eq__`,
`__hash__`, `__repr__`, ordering and refusal to change a field are closures made by this module instead, over the
field lists each class's methods read, taken once when the class is made; nothing is compiled.

Differences from `@dataclass(frozen=True)`, on purpose: a field is refused once it holds a value rather than always
(`__init__` fills every field, so after it every field is refused, as before, and so is any name that is not a
field; `__post_init__` still sets a derived field with `object.__setattr__`); `__init__` takes `*args, **kwargs`
and checks them itself (a TypeError for each mistake a written signature refuses); `field(init=False)` and `kw_only` are
refused, as the model uses neither. Everything else (fields, defaults, `dataclasses.replace`, `fields`, `asdict`,
pickling, `__match_args__`) is the dataclass machinery itself. tests/model/test_record.py holds each behaviour
against `@dataclass(frozen=True)`.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import MISSING, Field, FrozenInstanceError, dataclass, fields
from typing import Any, TypeVar, dataclass_transform

_Class = TypeVar("_Class", bound=type)
_REQUIRED, _FACTORY = object(), object()  # what an __init__ argument without a plain default starts as


def _values(names: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]]:
    """The values of `names` of a record, as one tuple whatever their number (a dataclass compares and hashes
    such a tuple)."""
    if len(names) > 1:
        return operator.attrgetter(*names)
    if names:
        only = operator.attrgetter(names[0])
        return lambda obj: (only(obj),)
    return lambda obj: ()


def _init_for(cls: type, declared: tuple[Field[Any], ...]) -> Callable[..., None]:
    """`cls.__init__`: the fields' arguments by position or name, checked as Python checks a written signature."""
    names = tuple(f.name for f in declared)
    # Every field in field order, each with its default or a marker: the instance's dictionary starts as a copy.
    start = {
        f.name: f.default if f.default is not MISSING else _FACTORY if f.default_factory is not MISSING else _REQUIRED
        for f in declared
    }
    unset = tuple(name for name, value in start.items() if value is _REQUIRED or value is _FACTORY)
    factories = {f.name: f.default_factory for f in declared if f.default_factory is not MISSING}
    post_init = hasattr(cls, "__post_init__")
    qualname = cls.__qualname__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        if len(args) > len(names):
            raise TypeError(f"{qualname}.__init__() takes {len(names) + 1} positional arguments but "
                            f"{len(args) + 1} were given")
        values = dict(start)
        values.update(zip(names, args))  # noqa: B905 - fewer arguments than fields is the usual case
        if kwargs:
            given_twice = kwargs.keys() & names[: len(args)]
            if given_twice:
                raise TypeError(f"{qualname}.__init__() got multiple values for argument {min(given_twice)!r}")
            values.update(kwargs)
            if len(values) != len(names):
                unknown = sorted(kwargs.keys() - start.keys())
                raise TypeError(f"{qualname}.__init__() got an unexpected keyword argument {unknown[0]!r}")
        missing = []
        for name in unset:
            value = values[name]
            if value is _FACTORY:
                values[name] = factories[name]()
            elif value is _REQUIRED:
                missing.append(repr(name))
        if missing:
            raise TypeError(f"{qualname}.__init__() missing {len(missing)} required argument(s): {', '.join(missing)}")
        # Straight into the instance's dictionary, in field order, as a frozen dataclass's object.__setattr__ puts
        # them (the record's own __setattr__ refuses any field once set).
        self.__dict__.update(values)
        if post_init:
            self.__post_init__()

    return __init__


def _freezing(names: frozenset[str]) -> tuple[Callable[..., None], Callable[..., None]]:
    """`__setattr__` and `__delattr__`: a field is set once, by `__init__`; nothing else is ever set or deleted."""

    def __setattr__(self: Any, name: str, value: Any) -> None:
        if name in self.__dict__ or name not in names:
            raise FrozenInstanceError(f"cannot assign to field {name!r}")
        object.__setattr__(self, name, value)

    def __delattr__(self: Any, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {name!r}")

    return __setattr__, __delattr__


def _comparing(compared: Callable[[Any], tuple[Any, ...]], hashed: Callable[[Any], tuple[Any, ...]]) -> dict[str, Any]:
    """`__eq__` and `__hash__` over the compared and the hashed fields' values."""

    def __eq__(self: Any, other: object) -> Any:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return compared(self) == compared(other)

    def __hash__(self: Any) -> int:
        return hash(hashed(self))

    return {"__eq__": __eq__, "__hash__": __hash__}


def _ordering(compared: Callable[[Any], tuple[Any, ...]]) -> dict[str, Any]:
    """`__lt__`, `__le__`, `__gt__` and `__ge__`: the compared fields' values in order, as a tuple compares them."""

    def method(compare: Callable[[Any, Any], bool]) -> Callable[[Any, object], Any]:
        def ordered(self: Any, other: object) -> Any:
            if other.__class__ is not self.__class__:
                return NotImplemented
            return compare(compared(self), compared(other))

        return ordered

    return {"__lt__": method(operator.lt), "__le__": method(operator.le),
            "__gt__": method(operator.gt), "__ge__": method(operator.ge)}


def _printing(shown: tuple[str, ...]) -> Callable[[Any], str]:
    def __repr__(self: Any) -> str:
        values = ", ".join(f"{name}={getattr(self, name)!r}" for name in shown)
        return f"{self.__class__.__qualname__}({values})"

    return __repr__


def _check_init_order(cls: type, declared: tuple[Field[Any], ...]) -> None:
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
        made = dataclass(init=False, eq=False, repr=False)(cls)  # the same class, given its fields
        declared = fields(made)
        _check_init_order(made, declared)
        compared = _values(tuple(f.name for f in declared if f.compare))
        hashed = _values(tuple(f.name for f in declared if (f.compare if f.hash is None else f.hash)))
        setattr_, delattr_ = _freezing(frozenset(f.name for f in declared))
        methods = {
            "__init__": _init_for(made, declared), "__setattr__": setattr_, "__delattr__": delattr_,
            "__repr__": _printing(tuple(f.name for f in declared if f.repr)),
            **_comparing(compared, hashed), **(_ordering(compared) if order else {}),
        }
        # A method the class writes itself would be replaced without a word (a dataclass would keep an `__eq__` and
        # refuse a `__setattr__`): refused, so a record's methods are always these.
        defined = sorted(name for name in methods if name in made.__dict__)
        if defined:
            raise TypeError(f"record {made.__qualname__} defines {', '.join(defined)} itself")
        for name, method in methods.items():
            method.__qualname__ = f"{made.__qualname__}.{name}"
            setattr(made, name, method)
        return made

    return make if cls is None else make(cls)
