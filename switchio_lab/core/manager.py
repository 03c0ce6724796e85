"""The :class:`AppManager`: apps across a cluster, loaded on every node under one app id.

An :class:`AppManager` loads an app on every node of a :class:`~switchio_lab.core.pool.NodePool`
under one app id, so a call between two nodes is handled on each side by that side's
instance of the app::

    manager = AppManager(pool)
    app_id = await manager.load_app(TonePlay, on_value="tone")   # on every node, or none
    await pool.next().originate("1000@127.0.0.2:5080", app_id=app_id)
    await manager.reload_app(TonePlayV2, "tone")                  # hot-swap everywhere
    await manager.unload_app("tone")
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from . import marks
from .errors import AppError
from .registry import _name, get, registry

if TYPE_CHECKING:
    from .client import Client
    from .pool import NodePool

log = logging.getLogger("switchio_lab")


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
        on any node raises :class:`~switchio_lab.core.errors.AppError` unless ``replace=True``
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

    async def load_multi_app(self, apps_iter: Any, on_value: str | None = None,
                             header: str | None = None, app_id: str | None = None,
                             **kwargs: Any) -> str:
        """switchio's ``load_multi_app``: several apps under one app id, composed.

        ``apps_iter`` holds apps or ``(app, prepost_kwargs)`` pairs; every member's marked
        callbacks run for the id's calls, in the order given, and every member's
        ``prepost`` runs (its teardown too). The id defaults to the members' names
        joined with ``+``.
        """
        kwargs.pop("with_measurers", None)  # switchio's flag: measurers are apps here
        members = [item if isinstance(item, tuple) else (item, {}) for item in apps_iter]
        if not members:
            raise AppError("load_multi_app needs at least one app")
        composite = multi_app(members)
        app_id = app_id or on_value or "+".join(_name(ns) for ns, _ in members)
        return await self.load_app(composite, app_id, header, **kwargs)

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


__all__ = ["AppManager"]


def multi_app(members: list[tuple[Any, dict[str, Any]]]) -> type:
    """A class composing ``members`` (``(app, prepost_kwargs)``): each instance holds a
    fresh instance of each member class (instances and modules are shared), exposes their
    marked callbacks, and has a ``prepost`` running every member's."""
    from .listener import prepost_arguments

    def __init__(self: Any) -> None:
        self.members = [(ns() if isinstance(ns, type) else ns, dict(pp)) for ns, pp in members]

    def delegate(i: int, func: Any) -> Any:
        name = func.__name__
        if inspect.iscoroutinefunction(func):
            async def call(self: Any, model: Any) -> Any:
                return await getattr(self.members[i][0], name)(model)
        else:
            def call(self: Any, model: Any) -> Any:
                return getattr(self.members[i][0], name)(model)
        call.__name__ = call.__qualname__ = f"{_name(members[i][0])}.{name}"
        for attr in (marks.EVENTS_ATTR, marks.SUBSCRIBE_ATTR, marks.KIND_ATTR):
            setattr(call, attr, list(getattr(func, attr)) if isinstance(
                getattr(func, attr), list) else getattr(func, attr))
        return call

    body: dict[str, Any] = {}
    for i, (ns, _pp) in enumerate(members):
        seen: set[str] = set()
        for _ev, _kind, func in marks.get_callbacks(ns):
            if func.__name__ not in seen:  # one delegate per function (several events)
                seen.add(func.__name__)
                body[f"_m{i}_{func.__name__}"] = delegate(i, func)

    async def prepost(self: Any, client: Any = None, listener: Any = None,
                      connection: Any = None, pool: Any = None) -> Any:
        available = {"client": client, "listener": listener, "connection": connection,
                     "pool": pool}
        teardowns = []
        for inst, pp in self.members:
            func = getattr(inst, "prepost", None)
            if func is None:
                continue
            result = func(**prepost_arguments(func, available, pp))
            if inspect.isawaitable(result):
                result = await result
            if inspect.isgenerator(result):
                next(result, None)
                teardowns.append(result)

        def teardown() -> Any:
            yield
            for gen in reversed(teardowns):
                next(gen, None)
        return teardown()

    names = "+".join(_name(ns) for ns, _ in members)
    body.update({"__init__": __init__, "prepost": prepost,
                 "__doc__": f"The apps {names}, composed."})
    return type(f"MultiApp[{names}]", (), body)
