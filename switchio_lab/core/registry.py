"""The registry of named apps: built-in apps and yours, loadable by name.

::

    @app                          # or @app("Name") / @app(name="Name")
    class Counter: ...

    get("Counter") is Counter;  await manager.load_app("Counter")

The built-in apps register themselves when :mod:`switchio_lab.apps` is imported (which
``import switchio_lab`` does).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, overload

from . import marks
from .errors import AppError

T = TypeVar("T")

#: app name -> app class, filled by :func:`app` / :func:`register`
registry: dict[str, Any] = {}


def register(cls: T, name: str | None = None) -> T:
    """Record app ``cls`` under ``name`` (default: its ``__name__``) in :data:`registry`.

    Registering a *redefinition* of the same class (same module and qualified name, as
    when a notebook cell is run again) replaces the old one; another class under a name
    already taken raises :class:`ValueError`.
    """
    if not marks.has_callbacks(cls):
        raise AppError(f"{_name(cls)} has no marked callbacks (@callback, @coroutine or "
                       "@handler): it is not an app")
    key = name or _name(cls)
    old = registry.get(key)
    if old is not None and old is not cls and _origin(old) != _origin(cls):
        raise ValueError(f"an app named {key!r} is already registered ({_origin(old)}); "
                         f"register {_origin(cls)} under another name")
    registry[key] = cls
    return cls


@overload
def app(cls: T) -> T: ...
@overload
def app(cls: str | None = None, *, name: str | None = None) -> Callable[[T], T]: ...


def app(cls: Any = None, *, name: str | None = None) -> Any:
    """Class decorator: register an app (``@app``, ``@app("Name")``, ``@app(name=...)``)."""
    if cls is not None and not isinstance(cls, str):
        return register(cls, name)
    name = cls if isinstance(cls, str) else name

    def inner(klass: T) -> T:
        return register(klass, name)
    return inner


def get(name: str) -> Any:
    """The app registered under ``name``, or None."""
    return registry.get(name)


def _name(ns: Any) -> str:
    return getattr(ns, "__name__", None) or type(ns).__name__


def _origin(ns: Any) -> str:
    return f"{getattr(ns, '__module__', '?')}.{getattr(ns, '__qualname__', _name(ns))}"


__all__ = ["app", "get", "register", "registry"]
