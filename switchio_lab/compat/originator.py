"""switchio's blocking ``Originator`` / ``get_originator`` over the core's async Originator.

switchio's semantics where the names are the same: ``duration=0`` never hangs up;
``auto_duration`` (default on) derives it as ``limit / rate + duration_offset`` (offset 5 s,
switchio's); each client dials what its ``set_orig_cmd`` prepared, formatted per call
with ``rep_fields_func()``; a CDR measurer is loaded on every node (``measurers``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from ..apps.originator import Originator as CoreOriginator
from ..core.pool import NodePool
from . import loop
from .api import Client, SlavePool, _orig_kwargs, get_pool
from .cdr import CDR, Measurers
from .utils import ConfigurationError

_SETTINGS = ("rate", "limit", "max_offered")


class _Dialer:
    """A core client whose ``originate`` dials its compat client's ``set_orig_cmd``."""

    def __init__(self, core: Any, compat: Client, rep_fields: Callable[[], dict[str, Any]]
                 ) -> None:
        self._core, self._compat, self._rep = core, compat, rep_fields

    def __getattr__(self, name: str) -> Any:
        return getattr(self._core, name)

    async def originate(self, dest_url: str, *, app_id: str | None = None,
                        uuid: str | None = None, profile: Any = None, proxy: Any = None,
                        **variables: Any) -> Any:
        args, kwargs = self._compat._orig or ((dest_url,), {})
        kwargs = _orig_kwargs(kwargs)
        dest = args[0] if args else kwargs.pop("dest_url")
        fields = self._rep() or {}
        if fields:
            dest = dest.format(**fields)
            kwargs = {k: v.format(**fields) if isinstance(v, str) else v
                      for k, v in kwargs.items()}
        return await self._core.originate(dest, app_id=app_id, uuid=uuid,
                                          **{**kwargs, **variables})


class _Core(CoreOriginator):
    compat: Originator | None = None

    async def _place(self, rec: Any) -> None:
        compat = self.compat
        if compat is not None:
            client = compat._by_core.get(id(rec.client))
            if client is not None and client._orig is not None:
                rec.client = _Dialer(rec.client, client, compat.rep_fields_func)
        await super()._place(rec)


class Originator:
    """switchio's ``call_gen.Originator``: ``Originator(pool)`` with a
    :class:`~switchio_lab.compat.api.SlavePool` (or compat Clients); blocking methods."""

    def __init__(self, slavepool: Any, debug: bool = False, auto_duration: bool = True,
                 app_id: str | None = None, **kwargs: Any) -> None:
        if isinstance(slavepool, Client):
            slavepool = SlavePool([slavepool])
        elif not isinstance(slavepool, SlavePool):
            slavepool = SlavePool(list(slavepool))
        self.pool = slavepool
        self.debug = debug
        self.rep_fields_func: Callable[[], dict[str, Any]] = (
            kwargs.pop("rep_fields_func", None) or (lambda: {}))
        self.uuid_gen = kwargs.pop("uuid_gen", None)
        self.autohangup = kwargs.pop("autohangup", True)
        self.period = kwargs.pop("period", 1)
        self.duration_offset = kwargs.pop("duration_offset", 5)
        self._auto = bool(auto_duration)
        popped = {k: kwargs.pop(k, None) for k in _SETTINGS}
        settings = {k: v for k, v in popped.items() if v is not None}
        duration = kwargs.pop("duration", None) or 0
        if kwargs:
            raise TypeError(f"Unsupported kwargs: {kwargs}")
        for client in self.pool:
            if not client.connected():
                client.connect()
        self._by_core = {id(c.core): c for c in self.pool}
        pool = NodePool([c.core for c in self.pool])

        def make() -> _Core:
            core = _Core(pool, dest_url="switchio-compat", duration_offset=self.duration_offset,
                         **settings)
            core.compat = self
            return core
        self._core = loop.call(make)
        self.app_manager = self._core.app_manager
        if duration or not self._auto:
            self.duration = duration
        self.measurers = Measurers()
        cdr = CDR()
        for c in self.pool:
            loop.run(c.core.load_app(cdr, "switchio-cdr", observe=True))
        self.measurers.add("CDR", cdr)

    def __repr__(self) -> str:
        return (f"<Originator: active-calls={self._core.concurrent} state={self.state} "
                f"total-originated-sessions={self.total_originated_sessions} "
                f"rate={self.rate:g} limit={self.limit} max-offered={self.max_offered} "
                f"duration={self.duration:g}>")

    @property
    def core(self) -> CoreOriginator:
        """The async :class:`~switchio_lab.apps.originator.Originator` underneath."""
        return self._core

    # -- settings (switchio's names and meanings) ---------------------------------------
    def _get(name: str) -> property:  # noqa: N805 - a class-body helper
        def get(self: Originator) -> Any:
            return getattr(self._core, name)

        def set_(self: Originator, value: Any) -> None:
            loop.call(setattr, self._core, name, value)
        return property(get, set_)

    rate = _get("rate")
    limit = _get("limit")
    max_offered = _get("max_offered")
    del _get

    @property
    def auto_duration(self) -> bool:
        return self._auto

    @auto_duration.setter
    def auto_duration(self, value: bool) -> None:
        self._auto = bool(value)
        if value:
            loop.call(setattr, self._core, "duration", None)

    @property
    def duration(self) -> float:
        """Seconds a call is held; 0 = never hang up (switchio's meaning)."""
        d = self._core.duration
        return 0 if math.isinf(d) else d

    @duration.setter
    def duration(self, value: float) -> None:
        self._auto = False
        loop.call(setattr, self._core, "duration", math.inf if not value else value)

    @property
    def state(self) -> str:
        return self._core.state

    def check_state(self, state: str) -> bool:
        return self._core.check_state(state)

    def stopped(self) -> bool:
        return self._core.stopped()

    def is_alive(self) -> bool:
        return not self._core._closed

    @property
    def total_originated_sessions(self) -> int:
        return self._core.offered

    def count_calls(self) -> int:
        return self._core.concurrent

    @property
    def clients(self) -> list[Client]:
        return self.pool.clients

    @property
    def originate_cmd(self) -> list[str | None]:
        return [c.originate_cmd for c in self.pool]

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._core, name)

    # -- running -------------------------------------------------------------------------
    def start(self) -> None:
        if not any(c._orig for c in self.pool):
            raise ConfigurationError("you must first set an originate command "
                                     "(client.set_orig_cmd(dest_url, ...))")
        if not self._core.settings()["apps"]:
            raise ConfigurationError("load an app first (originator.load_app(App))")
        loop.call(self._core.start)

    def stop(self) -> None:
        loop.call(self._core.stop)

    def hupall(self, timeout: float = 10.0) -> None:
        loop.run(self._core.hupall(timeout))

    def waitwhile(self, predicate: Callable[[], Any] | None = None, timeout: float = 30
                  ) -> bool:
        return loop.run(self._core.waitwhile(predicate, timeout))

    def waitforstate(self, state: str, timeout: float | None = 30) -> None:
        loop.run(self._core.waitforstate(state, timeout))

    def shutdown(self) -> None:
        loop.run(self._core.shutdown())
        for c in self.pool:
            if c.connected():
                c.disconnect()

    def load_app(self, app: Any, app_id: str | None = None,
                 ppkwargs: dict[str, Any] | None = None, weight: float = 1,
                 with_metrics: bool = True) -> str:
        """Load ``app`` on every node (``ppkwargs`` go to its ``prepost``); its id defaults
        to the app's name."""
        app_id = app_id or getattr(app, "__name__", None) or type(app).__name__
        return loop.run(self._core.load_app(app, app_id, weight, **(ppkwargs or {})))


def get_originator(contacts: Any, *args: Any, **kwargs: Any) -> Originator:
    """switchio's ``get_originator(['host1', 'host2'], rate=..)``: a pool of connected
    clients, one per contact (``host``, ``host:port``, ``(host, port)`` or an embedded
    node), and an Originator over it."""
    if isinstance(contacts, (str, bytes)) or not hasattr(contacts, "__iter__"):
        contacts = (contacts,)
    contacts = [f"{c[0]}:{c[1]}" if isinstance(c, tuple) else c for c in contacts]
    pool_kwargs = {k: kwargs.pop(k) for k in ("port", "auth") if k in kwargs}
    return Originator(get_pool(contacts, **pool_kwargs), *args, **kwargs)


__all__ = ["Originator", "get_originator"]
