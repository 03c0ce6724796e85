"""switchio's blocking ``EventListener`` / ``get_listener``: the core listener, whose events
are read on the compat loop thread from the moment it connects (``start()`` is kept for
switchio's scripts; the events already flow)."""

from __future__ import annotations

from typing import Any

from ..core.client import Client as CoreClient
from . import loop
from .models import Job, wrap_session

#: events a compat session keeps (switchio kept every event of a session; this bounds it)
SESSION_HISTORY = 1000

class _Wrapped(dict):
    """A read-only view of a dict of sessions whose values are thread-safe Sessions."""

    def __init__(self, src: dict[str, Any], wrap: Any) -> None:
        super().__init__()
        self._src, self._wrap = src, wrap

    def _items(self) -> dict[str, Any]:
        return {k: self._wrap(v) for k, v in list(self._src.items())}

    def __getitem__(self, key: str) -> Any:
        return self._wrap(self._src[key])

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        v = self._src.get(key)
        return default if v is None else self._wrap(v)

    def __contains__(self, key: object) -> bool:
        return key in self._src

    def __iter__(self) -> Any:
        return iter(list(self._src))

    def __len__(self) -> int:
        return len(self._src)

    def keys(self) -> Any:  # type: ignore[override]
        return self._items().keys()

    def values(self) -> Any:  # type: ignore[override]
        return self._items().values()

    def items(self) -> Any:  # type: ignore[override]
        return self._items().items()

    def __repr__(self) -> str:
        return repr(self._items())

    def __eq__(self, other: object) -> bool:
        return self._items() == other

    def __ne__(self, other: object) -> bool:
        return not self == other

    __hash__ = None  # type: ignore[assignment]


class EventListener:
    """switchio's ``handlers.EventListener``, blocking: ``connect()``, ``start()``,
    ``connected()``, ``disconnect()``, ``is_alive()``; counts, sessions, calls and jobs
    read from the core listener. ``call_tracking_header`` may be set at any time."""

    def __init__(self, host: str = "127.0.0.1", port: int = 8021, auth: str = "ClueCon",
                 call_tracking_header: str | None = None, *, client: CoreClient | None = None,
                 **kwargs: Any) -> None:
        if client is None:
            kwargs.setdefault("reconnect", True)
            client = loop.call(CoreClient, host, int(port), auth, **kwargs)
        self._client = client
        # switchio's sessions keep their events (sess.events): the core keeps none unless
        # asked, so a compat listener asks for a bounded history (docs/migrating.rst)
        client.listener.keep_events = max(client.listener.keep_events, SESSION_HISTORY)
        if call_tracking_header:
            self.call_tracking_header = call_tracking_header

    # the core client that owns the connection (shared with a compat Client)
    @property
    def core_client(self) -> CoreClient:
        return self._client

    @property
    def core(self) -> Any:
        return self._client.listener

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client.listener, name)

    def __repr__(self) -> str:
        return f"<compat EventListener {self.host}:{self.port}>"

    host = property(lambda self: self._client.host)
    port = property(lambda self: self._client.port)

    @property
    def call_tracking_header(self) -> str:
        return self.core.call_tracking_header

    @call_tracking_header.setter
    def call_tracking_header(self, value: str) -> None:
        loop.call(setattr, self.core, "call_tracking_header", value)

    # -- lifecycle --------------------------------------------------------------------
    def connect(self, **kwargs: Any) -> None:
        if not self._client.connected:
            loop.run(self._client.connect())

    def start(self) -> None:
        """switchio started its event loop thread here; the compat loop already runs."""
        self.connect()

    def is_alive(self) -> bool:
        return loop.get_loop().is_running() and self._client.connected

    def is_running(self) -> bool:
        return self.is_alive()

    def connected(self) -> bool:
        return self._client.connected

    def disconnect(self) -> None:
        loop.run(self._client.disconnect())

    def unsubscribe(self, *events: str) -> None:
        pass  # switchio's filter tuning: the core subscribes to what its apps need

    # -- state ------------------------------------------------------------------------
    @property
    def sessions(self) -> dict[str, Any]:
        return _Wrapped(self.core.sessions, wrap_session)

    @property
    def calls(self) -> dict[str, Any]:
        return _Wrapped(self.core.calls, wrap_session)

    @property
    def bg_jobs(self) -> dict[str, Any]:
        return _Wrapped(self.core.bg_jobs, Job)

    def count_calls(self) -> int:
        return self.core.count_calls()

    def count_sessions(self) -> int:
        return self.core.count_sessions()

    def count_jobs(self) -> int:
        return self.core.count_jobs()

    def count_failed(self) -> int:
        return self.core.count_failed()

    def waitfor(self, sess: Any, varname: str, timeout: float | None = None) -> Any:
        core = getattr(sess, "core", sess)

        async def wait() -> Any:
            return await self.core.waitfor(core, varname, timeout)
        return loop.run(wait())

    wait_for = waitfor


def get_listener(host: str = "127.0.0.1", port: int = 8021, auth: str = "ClueCon",
                 **kwargs: Any) -> EventListener:
    """switchio's ``get_listener``: an EventListener for ``host`` (``connect()`` then
    ``start()`` it)."""
    return EventListener(host, port, auth, **kwargs)


__all__ = ["EventListener", "get_listener"]
