"""MicroPython stand-ins for the standard modules heartsock imports (see ``heartsock._compat``).

Imported only under MicroPython. MicroPython compiles annotations away, has no
``__future__``, ``typing``, ``collections.abc``, ``dataclasses`` or ``enum``, and its
``deque`` is fixed-size. Each stand-in here is the smallest thing that gives heartsock's
modules the *run-time* behaviour they rely on:

- ``__future__``, ``typing``, ``collections.abc``: names that import and can be
  subscripted (``Union[str, bytes]``, ``Callable[[int], float]``) for type aliases, and
  ``Protocol`` as a base class. ``Mapping`` is ``dict`` (heartsock's one run-time
  ``isinstance(x, Mapping)``).
- ``dataclasses.dataclass``: MicroPython keeps no class annotations, so the fields are
  read from the class's ``__match_args__`` (which every heartsock dataclass declares, in
  field order; a CPython unit test checks it matches ``dataclasses.fields``), defaults
  from the class attributes. It makes ``__init__``, ``__eq__``, ``__repr__``, and for
  ``frozen=True`` ``__hash__`` plus a ``__setattr__`` that refuses.
- ``enum``: ``Enum`` plus ``unique``, the decorator that turns the class's upper-case
  attributes into members (CPython's ``unique`` only checks them; heartsock's enums use it).
- :class:`Fifo`: the growable deque heartsock's queues use.
- ``logging``: ``NullHandler``, and loggers that accept (and drop) ``exc_info``.

A module is registered in ``sys.modules`` only if importing it fails, so a page that
installed the real thing (or micropython-lib's) keeps it.
"""

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from typing import Any

__all__ = ["Fifo", "Task", "ensure_future", "install", "isawaitable"]


def isawaitable(obj: object) -> bool:
    """Whether ``obj`` is a coroutine: under MicroPython, ``async def`` makes a generator."""
    return type(obj).__name__ == "generator"


class _Form:
    """A typing construct at run time: subscripting or calling it gives something harmless."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getitem__(self, item: object) -> "_Form":
        return self

    def __call__(self, *args: object, **kwargs: object) -> "_Form":
        return self

    def __repr__(self) -> str:
        return "typing." + self._name


class _Generic:
    """``Generic``/``Protocol`` subscripted as a base class: ``class X(Generic[T])`` → ``object``."""

    def __getitem__(self, item: object) -> type:
        return object


def _identity(fn: "Any") -> "Any":
    return fn


def _cast(kind: object, value: "Any") -> "Any":
    return value


class _Protocol:
    """Base class for ``typing.Protocol`` classes."""


class _FutureModule:
    annotations = True


class _TypingModule:
    TYPE_CHECKING = False
    Any = _Form("Any")
    Union = _Form("Union")
    Optional = _Form("Optional")
    ClassVar = _Form("ClassVar")
    Final = _Form("Final")
    Literal = _Form("Literal")
    NoReturn = _Form("NoReturn")
    Callable = _Form("Callable")
    Generic = _Generic()
    Protocol = _Protocol
    TypeVar = _Form("TypeVar")
    ParamSpec = _Form("ParamSpec")
    overload = staticmethod(_identity)
    final = staticmethod(_identity)
    cast = staticmethod(_cast)


class _AbcModule:
    Callable = _Form("Callable")
    Sequence = _Form("Sequence")
    Iterable = _Form("Iterable")
    Iterator = _Form("Iterator")
    Generator = _Form("Generator")
    AsyncIterator = _Form("AsyncIterator")
    AsyncGenerator = _Form("AsyncGenerator")
    Coroutine = _Form("Coroutine")
    Hashable = _Form("Hashable")
    MutableMapping = _Form("MutableMapping")
    Awaitable = _Form("Awaitable")
    Mapping = dict


class FrozenInstanceError(AttributeError):
    """Assignment to a field of a frozen dataclass."""


class _Field:
    def __init__(self, name: str, default: object, has_default: bool) -> None:
        self.name = name
        self.default = default
        self.has_default = has_default


_MISSING = object()


def _frozen_setattr(self: object, name: str, value: object) -> None:
    raise FrozenInstanceError(f"cannot assign to field {name!r}")


def _make_dataclass(cls: type, frozen: bool) -> type:
    names: tuple[str, ...] = tuple(cls.__dict__.get("__match_args__", ()))
    fields = [_Field(n, cls.__dict__.get(n, _MISSING), n in cls.__dict__) for n in names]
    qualname = cls.__name__

    def __init__(self: "Any", *args: object, **kwargs: object) -> None:
        if len(args) > len(fields):
            raise TypeError(f"{qualname}() takes {len(fields)} positional arguments but {len(args)} were given")
        for i, f in enumerate(fields):
            if i < len(args):
                value = args[i]
                if f.name in kwargs:
                    raise TypeError(f"{qualname}() got multiple values for argument {f.name!r}")
            elif f.name in kwargs:
                value = kwargs.pop(f.name)
            elif f.has_default:
                value = f.default
            else:
                raise TypeError(f"{qualname}() missing required argument: {f.name!r}")
            object.__setattr__(self, f.name, value)
        if kwargs:
            raise TypeError(f"{qualname}() got an unexpected keyword argument {next(iter(kwargs))!r}")

    def _values(self: object) -> tuple[object, ...]:
        return tuple(getattr(self, n) for n in names)

    def __eq__(self: object, other: object) -> bool:
        return type(other) is type(self) and _values(self) == _values(other)

    def __ne__(self: object, other: object) -> bool:
        return not __eq__(self, other)

    def __repr__(self: object) -> str:
        inner = ", ".join(f"{n}={getattr(self, n)!r}" for n in names)
        return f"{qualname}({inner})"

    methods: dict[str, object] = {"__init__": __init__, "__eq__": __eq__, "__ne__": __ne__, "__repr__": __repr__}
    if frozen:
        methods["__hash__"] = lambda self: hash(_values(self))
        methods["__setattr__"] = _frozen_setattr
        methods["__delattr__"] = _frozen_setattr
    for key, fn in methods.items():
        setattr(cls, key, fn)
    setattr(cls, "__dataclass_fields__", {f.name: f for f in fields})  # noqa: B010 - a class mypy knows no such attribute of
    return cls


def _dataclass(cls: "Any" = None, *, frozen: bool = False, **ignored: object) -> "Any":
    if cls is None:
        return lambda c: _make_dataclass(c, frozen)
    return _make_dataclass(cls, frozen)


def _fields(obj: object) -> tuple[_Field, ...]:
    names: tuple[str, ...] = getattr(obj, "__match_args__", ())
    table: dict[str, _Field] = getattr(obj, "__dataclass_fields__", {})
    return tuple(table[n] for n in names)


def _replace(obj: "Any", **changes: object) -> "Any":
    values = {f.name: getattr(obj, f.name) for f in _fields(obj)}
    values.update(changes)
    return type(obj)(**values)


class _DataclassesModule:
    dataclass = staticmethod(_dataclass)
    fields = staticmethod(_fields)
    replace = staticmethod(_replace)
    FrozenInstanceError = FrozenInstanceError


class _Enum:
    """Base class of MicroPython's ``enum.Enum`` stand-in; members are made by ``unique``."""

    name: str
    value: "Any"
    _members: "dict[object, Any]"

    def __new__(cls, value: object) -> "Any":  # State("open") → State.OPEN
        try:
            return cls._members[value]
        except (AttributeError, KeyError):
            raise ValueError(f"{value!r} is not a valid {cls.__name__}") from None

    def __repr__(self) -> str:
        return f"<{type(self).__name__}.{self.name}: {self.value!r}>"

    def __str__(self) -> str:
        return f"{type(self).__name__}.{self.name}"

    def __hash__(self) -> int:
        return hash(self.name)


def _unique(cls: "Any") -> "Any":
    members: dict[object, object] = {}
    for name in list(cls.__dict__):
        value = cls.__dict__[name]
        if name.isupper() and not callable(value):
            member = object.__new__(cls)
            member.name = name
            member.value = value
            if value in members:
                raise ValueError(f"duplicate values found in {cls.__name__}: {name}")
            members[value] = member
            setattr(cls, name, member)
    cls._members = members
    return cls


class _EnumModule:
    Enum = _Enum
    unique = staticmethod(_unique)


class Fifo:
    """A growable first-in, first-out queue: the subset of ``collections.deque`` heartsock uses."""

    def __init__(self, items: "Iterable[Any]" = ()) -> None:
        self._items: list[Any] = list(items)
        self._head = 0

    def append(self, item: "Any") -> None:
        self._items.append(item)

    def extend(self, items: "Iterable[Any]") -> None:
        self._items.extend(items)

    def popleft(self) -> "Any":
        items, head = self._items, self._head
        if head >= len(items):
            raise IndexError("pop from an empty deque")
        item = items[head]
        items[head] = None
        head += 1
        if head >= 64 and head * 2 >= len(items):
            del items[:head]
            head = 0
        self._head = head
        return item

    def clear(self) -> None:
        self._items = []
        self._head = 0

    def __len__(self) -> int:
        return len(self._items) - self._head

    def __bool__(self) -> bool:
        return len(self._items) > self._head

    def __iter__(self) -> "Iterator[Any]":
        items = self._items
        for i in range(self._head, len(items)):
            yield items[i]

    def __getitem__(self, index: int) -> "Any":
        size = len(self._items) - self._head
        if index < 0:
            index += size
        if not 0 <= index < size:
            raise IndexError("deque index out of range")
        return self._items[self._head + index]


class Task:
    """A task with the ``add_done_callback``/``exception``/``cancelled`` MicroPython's ``Task`` lacks."""

    def __init__(self, coro: "Any") -> None:
        import asyncio

        self._callbacks: list[Any] = []
        self._exception: BaseException | None = None
        self._cancelled = False
        self._done = False
        self._task = asyncio.create_task(self._run(coro))

    async def _run(self, coro: "Any") -> None:
        import asyncio

        try:
            await coro
        except asyncio.CancelledError:
            self._cancelled = True
        except Exception as exc:
            self._exception = exc
        self._done = True
        for callback in self._callbacks:
            callback(self)

    def add_done_callback(self, callback: "Any") -> None:
        """Call ``callback(task)`` when the coroutine finishes (at once if it has)."""
        if self._done:
            callback(self)
        else:
            self._callbacks.append(callback)

    def cancel(self) -> bool:
        """Cancel the coroutine."""
        return bool(self._task.cancel())

    def cancelled(self) -> bool:
        """Whether the coroutine was cancelled."""
        return self._cancelled

    def done(self) -> bool:
        """Whether the coroutine finished."""
        return self._done

    def exception(self) -> BaseException | None:
        """What the coroutine raised (``None``: nothing, or not finished)."""
        return self._exception


def ensure_future(coro: "Any") -> Task:
    """Run ``coro`` as a task (MicroPython: ``asyncio.create_task`` plus done callbacks)."""
    return Task(coro)


def _logging() -> None:
    """MicroPython's ``logging``: add ``NullHandler``; let the loggers take (and drop) ``exc_info``."""
    import logging

    if not hasattr(logging, "NullHandler"):

        class NullHandler(logging.Handler):
            def emit(self, record: object) -> None:
                pass

        setattr(logging, "NullHandler", NullHandler)  # noqa: B010 - absent from MicroPython's logging
    logger = logging.Logger
    if getattr(logger, "_heartsock_tolerant", False):
        return
    for name in ("debug", "info", "warning", "error", "critical", "log"):
        original = getattr(logger, name, None)
        if original is not None:
            setattr(logger, name, _tolerant(original))
    setattr(logger, "_heartsock_tolerant", True)  # noqa: B010


def _tolerant(method: "Any") -> "Any":
    def call(self: object, *args: object, **kwargs: object) -> "Any":
        kwargs.pop("exc_info", None)  # MicroPython's loggers take no exc_info/stack_info/stacklevel
        kwargs.pop("stack_info", None)
        kwargs.pop("stacklevel", None)
        return method(self, *args, **kwargs)

    return call


_STAND_INS: "tuple[tuple[str, Any], ...]" = (
    ("__future__", _FutureModule),
    ("typing", _TypingModule),
    ("collections.abc", _AbcModule),
    ("dataclasses", _DataclassesModule),
    ("enum", _EnumModule),
)


def install() -> None:
    """Register each stand-in whose real module cannot be imported (idempotent)."""
    for name, module in _STAND_INS:
        if name in sys.modules:
            continue
        try:
            __import__(name)
        except ImportError:
            sys.modules[name] = module
    _logging()
