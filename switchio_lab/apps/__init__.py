"""Apps across a cluster: the :class:`AppManager`, and the registry of named apps.

An :class:`AppManager` loads an app on every node of a :class:`~switchio_lab.pool.NodePool`
under one app id, so a call between two nodes is handled on each side by that side's
instance of the app::

    manager = AppManager(pool)
    app_id = await manager.load_app(TonePlay, on_value="tone")   # on every node, or none
    await pool.next().originate("1000@127.0.0.2:5080", app_id=app_id)
    await manager.reload_app(TonePlayV2, "tone")                  # hot-swap everywhere
    await manager.unload_app("tone")

The registry gives apps a name (built-in apps, and yours) so they can be loaded by it::

    @app                          # or @app("Name") / @app(name="Name")
    class Counter: ...

    get("Counter") is Counter;  await manager.load_app("Counter")
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any, TypeVar, overload

from .. import marks
from ..api import AppError, Client
from ..pool import NodePool

log = logging.getLogger("switchio_lab")

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


class AppManager:
    """Load, hot-swap and unload apps on every node of a pool, all or nothing."""

    def __init__(self, pool: NodePool) -> None:
        self.pool = pool
        self._loaded: dict[str, tuple[Any, dict[str, Any]]] = {}

    def __repr__(self) -> str:
        return f"<AppManager {self.pool.names} apps={list(self.apps)}>"

    # -- what is loaded -----------------------------------------------------------------
    @property
    def apps(self) -> dict[str, Any]:
        """app id -> the class or namespace loaded under it (still loaded on some node)."""
        return {app_id: ns for app_id, (ns, _) in self._loaded.items()
                if any(app_id in c.apps for c in self.pool)}

    def instances(self, app_id: str) -> dict[str, Any]:
        """node name -> the app instance running under ``app_id`` on that node."""
        return {self.pool.name_of(c): c.apps[app_id] for c in self.pool if app_id in c.apps}

    def iterapps(self) -> Iterator[Any]:
        """Every distinct app instance loaded on the nodes of the pool."""
        seen: set[int] = set()
        for client in self.pool:
            for ns in client.apps.values():
                if id(ns) not in seen:
                    seen.add(id(ns))
                    yield ns

    # -- loading ------------------------------------------------------------------------
    async def load_app(self, ns: Any, on_value: str | None = None, header: str | None = None,
                       prepend: bool = False, replace: bool = False,
                       app_id: str | None = None, **prepost_kwargs: Any) -> str:
        """Load ``ns`` on every node under one app id (returned).

        ``ns`` is an app class (each node gets its own instance), an instance or module
        (shared by the nodes), or the name of a registered app. The id defaults to
        ``default`` for the first app, else the app's name. Loading under an id in use
        on any node raises :class:`~switchio_lab.api.AppError` unless ``replace=True``
        (a hot-swap: see :meth:`reload_app`). Nodes load concurrently; if one fails,
        the app is unloaded from the nodes it went on (for a swap, those nodes get back
        the app that was loaded under the id) and :class:`AppError` names the node.
        """
        if app_id is not None:  # switchio's Service examples spell the id app_id=
            if on_value is not None and on_value != app_id:
                raise TypeError("give the app id once: on_value or app_id")
            on_value = app_id
        if isinstance(ns, str):
            found = get(ns)
            if found is None:
                raise AppError(f"no app registered as {ns!r} (registered: {sorted(registry)})")
            ns = found
        clients = self.pool.clients
        if not clients:
            raise AppError(f"cannot load {_name(ns)}: the pool has no nodes")
        if not marks.has_callbacks(ns):
            raise AppError(f"{_name(ns)} has no marked callbacks (@callback, @coroutine or "
                           "@handler): it is not an app")
        app_id = on_value or ("default" if not any("default" in c.apps for c in clients)
                              else _name(ns))
        present = {c: c.apps[app_id] for c in clients if app_id in c.apps}
        if present and not replace:
            raise AppError(f"an app is already loaded under {app_id!r} on "
                           f"{[self.pool.name_of(c) for c in present]}; pass replace=True "
                           "(or use reload_app) to swap it")
        previous = self._loaded.get(app_id)

        async def load(client: Client) -> str:
            return await client.load_app(ns, app_id, header, prepend, replace=replace,
                                         **prepost_kwargs)

        results = await self.pool.map(load, return_exceptions=True)
        failed = {n: r for n, r in results.items() if isinstance(r, BaseException)}
        if failed:
            undone = await self._roll_back(app_id, [self.pool[n] for n in results
                                                    if n not in failed], present, previous)
            first_node, first_exc = next(iter(failed.items()))
            rest = [n for n in failed if n != first_node]
            others = f" (and on {rest})" if rest else ""
            raise AppError(f"loading {_name(ns)} under {app_id!r} failed on node "
                           f"{first_node}{others}: {first_exc}; {undone}") from first_exc
        self._loaded[app_id] = (ns, dict(prepost_kwargs))
        return app_id

    async def _roll_back(self, app_id: str, loaded: list[Client], present: dict[Client, Any],
                         previous: tuple[Any, dict[str, Any]] | None) -> str:
        """Undo a partial load on the ``loaded`` clients; says what was done."""
        if not loaded:
            return "it was loaded on no node"
        notes = []
        for client in loaded:
            name = self.pool.name_of(client)
            try:
                if client in present:  # a swap: put back the instance that was there
                    old = present[client]
                    kwargs = {}
                    if previous is not None and previous[0] in (old, type(old)):
                        kwargs = previous[1]
                    await client.load_app(old, app_id, replace=True, **kwargs)
                    notes.append(f"restored the previous app on {name}")
                else:
                    await client.unload_app(app_id)
                    notes.append(f"unloaded it from {name}")
            except Exception as exc:  # keep rolling back the others
                log.exception("app %s: rolling back on %s failed", app_id, name)
                notes.append(f"rolling back on {name} failed too ({exc!r})")
        return ", ".join(notes)

    async def reload_app(self, ns: Any, on_value: str = "default", **prepost_kwargs: Any
                         ) -> str:
        """Hot-swap the app under ``on_value`` on every node (new calls get ``ns``)."""
        return await self.load_app(ns, on_value, replace=True, **prepost_kwargs)

    async def unload_app(self, app_id: str) -> None:
        """Unload ``app_id`` from every node that has it (teardowns run as calls end)."""
        holders = [c for c in self.pool if app_id in c.apps]
        self._loaded.pop(app_id, None)
        if not holders:
            raise AppError(f"no app {app_id!r} loaded on any node of {self.pool.names}")
        for client in holders:
            await client.unload_app(app_id)


__all__ = ["AppManager", "Originator", "app", "get", "get_originator", "register", "registry"]

# The built-in apps register themselves on import: get("TonePlay"), load_app("Router").
from . import bert, blockers, dtmf, measure, players, routers  # noqa: E402, F401
from .call_gen import Originator, get_originator  # noqa: E402
