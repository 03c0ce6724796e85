"""Marks: decorators that make a plain method an event processor of an app.

An *app* is any namespace (usually a class) whose methods carry marks::

    class Counter:
        @callback("CHANNEL_ANSWER")          # plain function, gets the Session
        def on_answer(self, sess): ...

        @coroutine("CHANNEL_PARK")           # async, may await sess.recv(...)
        async def on_park(self, sess): ...

        @handler("CHANNEL_HANGUP")           # low level: gets the raw event,
        def on_hangup(self, event): ...      # returns (consumed, model, ...)
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

EVENTS_ATTR = "switchio_init_events"
SUBSCRIBE_ATTR = "switchio_events_sub"
KIND_ATTR = "_switchio_handler_type"
KINDS = ("callback", "coroutine", "handler")


def marker(event_type: str, cb_type: str = "callback", subscribe: Iterable[str] = ()
           ) -> Callable[[F], F]:
    """Mark a function to run on events of ``event_type`` (``cb_type``: callback,
    coroutine or handler); ``subscribe`` names extra events the app needs."""
    if cb_type not in KINDS:
        raise ValueError(f"unknown mark type {cb_type!r}; expected one of {KINDS}")
    if not isinstance(event_type, str) or not event_type:
        raise TypeError("a mark needs an event name, e.g. @callback('CHANNEL_ANSWER')")
    extra = [subscribe] if isinstance(subscribe, str) else list(subscribe)

    def inner(func: F) -> F:
        if not (inspect.isfunction(func) or inspect.ismethod(func)):
            raise TypeError(f"@{cb_type}({event_type!r}) marks a function (a def or async "
                            f"def); {func!r} is a {type(func).__name__}, not a function")
        if cb_type == "coroutine" and not inspect.iscoroutinefunction(func):
            raise TypeError(f"@coroutine({event_type!r}) marks an 'async def' function; "
                            f"{func.__qualname__} is not one (use @callback)")
        previous = getattr(func, KIND_ATTR, cb_type)
        if previous != cb_type:
            raise TypeError(f"{func.__qualname__} is already marked as a {previous}")
        getattr(func, EVENTS_ATTR, None) or setattr(func, EVENTS_ATTR, [])
        getattr(func, EVENTS_ATTR).append(event_type)
        getattr(func, SUBSCRIBE_ATTR, None) or setattr(func, SUBSCRIBE_ATTR, [])
        getattr(func, SUBSCRIBE_ATTR).extend(extra)
        setattr(func, KIND_ATTR, cb_type)
        return func

    return inner


def callback(event_type: str, subscribe: Iterable[str] = ()) -> Callable[[F], F]:
    """A plain (session oriented) function run on ``event_type``."""
    return marker(event_type, "callback", subscribe)


event_callback = callback


def coroutine(event_type: str, subscribe: Iterable[str] = ()) -> Callable[[F], F]:
    """An ``async def`` (session oriented) run as a task on ``event_type``."""
    return marker(event_type, "coroutine", subscribe)


def handler(event_type: str, subscribe: Iterable[str] = ()) -> Callable[[F], F]:
    """A low-level handler: gets the raw event, returns ``(consumed, model, ...)``."""
    return marker(event_type, "handler", subscribe)


def has_callbacks(ns: object) -> bool:
    """Whether namespace ``ns`` holds any marked function."""
    return any(True for _ in get_callbacks(ns))


def get_callbacks(ns: object, skip: Iterable[str] = (), only: str | None = None
                  ) -> Iterator[tuple[str, str, Callable[..., Any]]]:
    """``(event_type, kind, function)`` for every mark in ``ns``: handlers first."""
    later = []
    skip = set(skip)
    for name in dir(ns):
        if name in skip or name.startswith("__"):
            continue
        try:
            obj = inspect.getattr_static(ns, name)
            obj = getattr(ns, name) if not isinstance(obj, property) else None
        except AttributeError:
            continue
        if obj is None:
            continue
        events = getattr(obj, EVENTS_ATTR, None)
        if not events:
            continue
        kind = getattr(obj, KIND_ATTR, "callback")
        if only and kind != only:
            continue
        for ev in events:
            if kind == "handler":
                yield ev, kind, obj
            else:
                later.append((ev, kind, obj))
    yield from later


def subscriptions(ns: object) -> set[str]:
    """Every event the marked functions of ``ns`` need (their events + ``subscribe``)."""
    names: set[str] = set()
    for ev, _kind, func in get_callbacks(ns):
        names.add(ev)
        names.update(getattr(func, SUBSCRIBE_ATTR, ()))
    return names
