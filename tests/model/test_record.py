"""`@record` behaves as `@dataclass(frozen=True)` does, class for class, and every model record is frozen."""

from __future__ import annotations

import copy
import dataclasses
import importlib
import pickle
import pkgutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from model.inputs import load_inputs
from model.record import record
from tests.estates import STACKS

ROOT = Path(__file__).resolve().parents[2]
# Every package of the project's own code: the providers' records are pickled into state by `pulumi up` too.
PROJECT_MODULES = [
    importlib.import_module(f"{package}.{info.name}")
    for package in ("model", "providers", "components", "review")
    for info in pkgutil.iter_modules([str(ROOT / package)])
]


def _sample(decorate: Callable[[type], type]) -> type:
    """The same class declaration, made by `decorate`: every kind of field a model record uses."""

    @decorate
    class Sample:
        name: str
        count: int = 0
        tags: tuple[str, ...] = ()
        lines: dict[str, int] = dataclasses.field(default_factory=dict, hash=False, compare=False)
        payload: dict[str, Any] = dataclasses.field(default_factory=dict, hash=False, repr=False)
        note: str = dataclasses.field(default="", repr=False)

    return Sample


RECORD_SAMPLE = _sample(record)
DATACLASS_SAMPLE = _sample(dataclasses.dataclass(frozen=True))


def _both(**values: Any) -> tuple[Any, Any]:
    return RECORD_SAMPLE(**values), DATACLASS_SAMPLE(**values)


# Every module-level class is pickled by name, so the pair for pickling lives here.
@record
class PickledRecord:
    name: str
    when: tuple[int, ...] = ()


@record(order=True)
class OrderedRecord:
    file: str
    line: int


@dataclasses.dataclass(frozen=True, order=True)
class OrderedDataclass:
    file: str
    line: int


VALUES = [
    {"name": "a"},
    {"name": "a", "count": 2, "tags": ("x", "y")},
    {"name": "a", "lines": {"name": 3}},  # not compared, not hashed
    {"name": "a", "payload": {"k": 1}},  # compared, not hashed
    {"name": "b", "note": "hidden"},
]


@pytest.mark.parametrize("left", VALUES)
@pytest.mark.parametrize("right", VALUES)
def test_records_compare_as_frozen_dataclasses_do(left, right):
    record_left, dataclass_left = _both(**left)
    record_right, dataclass_right = _both(**right)
    assert (record_left == record_right) == (dataclass_left == dataclass_right)
    assert (record_left != record_right) == (dataclass_left != dataclass_right)
    assert record_left == RECORD_SAMPLE(**left)


@pytest.mark.parametrize("values", [v for v in VALUES if "payload" not in v])
def test_a_record_hashes_to_what_the_frozen_dataclass_hashes_to(values):
    made_record, made_dataclass = _both(**values)
    assert hash(made_record) == hash(made_dataclass)


@pytest.mark.parametrize("values", VALUES)
def test_a_record_prints_as_the_frozen_dataclass_prints(values):
    made_record, made_dataclass = _both(**values)
    assert repr(made_record) == repr(made_dataclass)


def test_a_record_is_never_equal_to_another_class_with_the_same_values():
    made_record, made_dataclass = _both(name="a")
    assert made_record != made_dataclass and made_dataclass != made_record
    assert made_record != ("a", 0, (), {}, {}, "")


@pytest.mark.parametrize("name", ["name", "count", "lines", "not_a_field"])
def test_no_field_of_a_record_can_be_assigned_or_deleted_once_made(name):
    made, frozen = _both(name="a")
    for target in (made, frozen):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(target, name, 1)
        with pytest.raises(dataclasses.FrozenInstanceError):
            delattr(target, name)
    assert made == type(made)(name="a")


@pytest.mark.parametrize(("args", "kwargs"), [
    (("a",), {}),
    (("a", 2, ("t",)), {}),
    ((), {"name": "a", "note": "n"}),
    (("a",), {"tags": ("t",), "count": 3}),
    (("a", 1, (), {"x": 1}, {"y": 2}, "n"), {}),
])
def test_a_record_is_made_from_the_same_arguments_into_the_same_fields(args, kwargs):
    made, frozen = RECORD_SAMPLE(*args, **kwargs), DATACLASS_SAMPLE(*args, **kwargs)
    assert list(vars(made).items()) == list(vars(frozen).items())  # every field, in field order


@pytest.mark.parametrize(("args", "kwargs"), [
    ((), {}),  # missing the required field
    (("a", 1, (), {}, {}, "n", "extra"), {}),  # too many
    (("a",), {"name": "b"}),  # given twice
    (("a",), {"colour": "red"}),  # not a field
])
def test_wrong_arguments_are_refused_as_a_frozen_dataclass_refuses_them(args, kwargs):
    for made in (RECORD_SAMPLE, DATACLASS_SAMPLE):
        with pytest.raises(TypeError):
            made(*args, **kwargs)


def test_each_record_gets_its_own_value_from_a_default_factory():
    first, second = RECORD_SAMPLE("a"), RECORD_SAMPLE("a")
    assert first.lines == {} and first.lines is not second.lines


def test_a_field_without_a_default_after_one_with_a_default_is_refused_as_dataclass_refuses_it():
    for decorate in (record, dataclasses.dataclass(frozen=True)):
        with pytest.raises(TypeError, match="follows default argument"):

            @decorate
            class Misordered:
                first: int = 0
                second: int


def test_a_field_that_is_not_an_init_argument_is_refused():
    with pytest.raises(TypeError, match="not a plain __init__ argument"):

        @record
        class Derived:
            base: int
            derived: int = dataclasses.field(default=0, init=False)


def test_post_init_still_derives_a_field():
    @record
    class Derived:
        base: int
        double: int = 0

        def __post_init__(self) -> None:
            object.__setattr__(self, "double", self.base * 2)

    assert Derived(3).double == 6


def test_replace_fields_asdict_and_match_args_are_the_dataclass_machinery():
    made, frozen = _both(name="a", count=1)
    assert dataclasses.is_dataclass(made)
    assert [f.name for f in dataclasses.fields(made)] == [f.name for f in dataclasses.fields(frozen)]
    assert dataclasses.asdict(made) == dataclasses.asdict(frozen)
    assert dataclasses.replace(made, count=5) == type(made)(name="a", count=5)
    assert type(made).__match_args__ == type(frozen).__match_args__


def test_a_record_survives_pickling_and_copying_equal():
    made = PickledRecord("a", (1, 2))
    for copied in (pickle.loads(pickle.dumps(made)), copy.copy(made), copy.deepcopy(made)):  # noqa: S301 - our own bytes
        assert copied == made and hash(copied) == hash(made) and copied is not made


def test_ordered_records_sort_as_ordered_dataclasses_do():
    pairs = [("b.yaml", 3), ("a.yaml", 9), ("a.yaml", 2), ("b.yaml", 3)]
    assert [(r.file, r.line) for r in sorted(OrderedRecord(*p) for p in pairs)] == [
        (d.file, d.line) for d in sorted(OrderedDataclass(*p) for p in pairs)
    ]
    assert OrderedRecord("a", 1) <= OrderedRecord("a", 1) < OrderedRecord("a", 2)
    assert OrderedRecord("b", 1) >= OrderedRecord("a", 9) > OrderedRecord("a", 8)
    with pytest.raises(TypeError):
        _ = OrderedRecord("a", 1) < OrderedDataclass("a", 1)


def test_an_unordered_record_refuses_ordering():
    with pytest.raises(TypeError):
        _ = PickledRecord("a") < PickledRecord("b")


def test_a_class_that_writes_its_own_comparison_is_refused_rather_than_silently_replaced():
    with pytest.raises(TypeError, match="__eq__"):

        @record
        class OwnEquality:
            name: str

            def __eq__(self, other: object) -> bool:
                return True

    with pytest.raises(TypeError, match="__lt__"):

        @record(order=True)
        class OwnOrder:
            name: str

            def __lt__(self, other: object) -> bool:
                return True


def _records_in(value: Any, seen: set[int]) -> list[Any]:
    """Every record reachable from `value` (dataclass instances inside containers and fields)."""
    if id(value) in seen:
        return []
    seen.add(id(value))
    found: list[Any] = []
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        found.append(value)
        children: Any = [getattr(value, f.name) for f in dataclasses.fields(value)]
    elif isinstance(value, dict):
        children = [*value.keys(), *value.values()]
    elif isinstance(value, list | tuple | set | frozenset):
        children = value
    else:
        return found
    for child in children:
        found += _records_in(child, seen)
    return found


def test_every_frozen_dataclass_of_the_project_is_a_record():
    declared = [
        value
        for module in PROJECT_MODULES
        for value in vars(module).values()
        if isinstance(value, type) and value.__module__ == module.__name__ and dataclasses.is_dataclass(value)
    ]
    # A record is a dataclass that dataclass itself did not freeze: its own __setattr__ does.
    records = [cls for cls in declared if getattr(cls.__setattr__, "__module__", None) == record.__module__]
    frozen_by_dataclass = [cls.__qualname__ for cls in declared if cls.__dataclass_params__.frozen]
    assert len(records) > 20 and frozen_by_dataclass == []


@pytest.mark.parametrize("name", sorted(STACKS))
def test_every_estate_is_made_of_records_that_refuse_change_and_pickle_equal(name: str):
    root, stack = STACKS[name]
    estate, loaded_dashboards = load_inputs(root, stack=stack or "prod")
    found = _records_in((estate, loaded_dashboards), set())
    assert {type(r).__name__ for r in found} >= {"Estate", "App", "AlertRule"}
    for item in found:
        first = dataclasses.fields(item)[0].name
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(item, first, getattr(item, first))
    assert pickle.loads(pickle.dumps(estate)) == estate  # noqa: S301 - our own bytes
