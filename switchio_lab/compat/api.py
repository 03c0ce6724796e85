"""switchio's blocking ``api`` module: ``Client``, ``get_client``, ``get_connection``,
``get_pool``, ``SlavePool`` and ``MultiEval``, over the async core run on the compat loop."""

from __future__ import annotations

import contextlib
import uuid as uuidlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from ..connection import InboundClient, is_error
from ..core import marks
from ..core.client import Client as CoreClient
from ..core.errors import AppError
from ..core.pool import split_contact
from . import loop
from .listener import EventListener
from .models import Job
from .utils import APIError, ConfigurationError


def _name(ns: Any) -> str:
    return getattr(ns, "__name__", None) or type(ns).__name__


class Client:
    """switchio's ``api.Client``: blocking calls. Not connected until :meth:`connect`
    (``get_client`` connects); its listener reads events on the compat loop thread."""

    def __init__(self, host: str = "127.0.0.1", port: int | str = 8021, auth: str = "ClueCon",
                 call_tracking_header: str | None = None, listener: EventListener | None = None,
                 logger: Any = None, **kwargs: Any) -> None:
        self.host, self.port, self.auth = host, int(port), auth
        self._orig: tuple[tuple[Any, ...], dict[str, Any]] | None = None
        self._listener = listener or EventListener(host, self.port, auth, **kwargs)
        if call_tracking_header:
            self._listener.call_tracking_header = call_tracking_header
        self.client = self  # switchio's prepost funcarg

    def __repr__(self) -> str:
        return f"<compat Client {self.host}:{self.port} apps={list(self.apps)}>"

    @property
    def core(self) -> CoreClient:
        return self._listener.core_client

    @property
    def listener(self) -> EventListener:
        return self._listener

    @listener.setter
    def listener(self, value: EventListener) -> None:
        self._listener = value

    @property
    def apps(self) -> Any:
        """The loaded apps by id (attribute access too: ``client.apps.TonePlay``)."""
        return type("apps", (dict,), {"__getattr__": dict.__getitem__})(self.core.apps)

    @property
    def call_tracking_header(self) -> str:
        return self._listener.call_tracking_header

    @call_tracking_header.setter
    def call_tracking_header(self, value: str) -> None:
        self._listener.call_tracking_header = value

    # -- connection -------------------------------------------------------------------
    def connect(self) -> None:
        loop.run(self.core.connect())

    def disconnect(self) -> None:
        loop.run(self.core.disconnect())

    def connected(self) -> bool:
        return self.core.connected

    # -- commands ---------------------------------------------------------------------
    def api(self, cmd: str, exc: bool = True, timeout: float | None = None) -> str:
        """Run ``api cmd``; ``-ERR`` raises :class:`APIError` (unless ``exc=False``)."""
        body = loop.run(self.core.api(cmd, timeout=timeout))
        if exc and is_error(body):
            raise APIError(cmd, body.strip())
        return body

    def cmd(self, cmd: str) -> str:
        return self.api(cmd).strip()

    def bgapi(self, cmd: str, listener: Any = None, callback: Callable[..., Any] | None = None,
              client_id: str | None = None, sess_uuid: str | None = None, **kwargs: Any
              ) -> Job:
        self._assert_alive()
        job = loop.run(self.core.bgapi(cmd, sess_uuid=sess_uuid))
        if callback is not None:
            job._future.add_done_callback(lambda _f: callback(Job(job)))
        return Job(job)

    def _assert_alive(self) -> None:
        if not self.core.connected:
            raise ConfigurationError(f"connect this {self!r} before issuing bgapi")

    def hupall(self, group_id: str | None = None, timeout: float = 5) -> None:
        loop.run(self.core.hupall(group_id, timeout))

    # -- originate --------------------------------------------------------------------
    def set_orig_cmd(self, *args: Any, **kwargs: Any) -> None:
        """Keep an originate command's arguments for later ``originate()`` calls with no
        ``dest_url`` (switchio's ``set_orig_cmd``; takes ``originate``'s arguments)."""
        if "uuid_str" in kwargs:
            raise ConfigurationError("passing 'uuid_str' here is improper usage")
        self._orig = (args, kwargs)

    @property
    def originate_cmd(self) -> str | None:
        """The command ``set_orig_cmd`` prepared, with ``{uuid_str}`` and ``{app_id}``
        placeholders (as switchio's)."""
        if self._orig is None:
            return None
        args, kwargs = self._orig
        cmd, _ = self.core.originate_string(*args, uuid="{uuid_str}", app_id="{app_id}",
                                            **_orig_kwargs(kwargs))
        return cmd

    def originate(self, dest_url: str | None = None, uuid_func: Callable[[], str] | None = None,
                  app_id: str | None = None, listener: Any = None,
                  bgapi_kwargs: dict[str, Any] | None = None,
                  rep_fields: dict[str, Any] | None = None, **orig_kwargs: Any) -> Job:
        """Place a call (bgapi); returns its :class:`Job` (``job.get()`` -> the uuid)."""
        self._assert_alive()
        uuid = (uuid_func or (lambda: str(uuidlib.uuid4())))()
        if dest_url is None:
            if self._orig is None:
                raise ConfigurationError("no dest_url and no set_orig_cmd() to use")
            args, kwargs = self._orig
            kwargs = {**_orig_kwargs(kwargs), **_orig_kwargs(orig_kwargs)}
            dest_url, args = (args[0], args[1:]) if args else (kwargs.pop("dest_url"), ())
            if rep_fields:
                dest_url = dest_url.format(**rep_fields)
                kwargs = {k: v.format(**rep_fields) if isinstance(v, str) else v
                          for k, v in kwargs.items()}
        else:
            kwargs = _orig_kwargs(orig_kwargs)
        if app_id is None and self.core.apps:
            app_id = next(iter(self.core.apps))  # switchio tagged calls with its app group
        job = loop.run(self.core.originate(dest_url, app_id=app_id, uuid=uuid, **kwargs))
        return Job(job)

    # -- apps -------------------------------------------------------------------------
    def load_app(self, ns: Any, on_value: str | None = None, header: str | None = None,
                 prepend: bool = False, funcargsmap: dict[str, Any] | None = None,
                 **prepost_kwargs: Any) -> str:
        """Load app ``ns`` under ``on_value`` (default: the app's name, as switchio)."""
        app_id = on_value or _name(ns)
        for name, value in (funcargsmap or {}).items():
            prepost_kwargs.setdefault(name, value)
        try:
            return loop.run(self.core.load_app(ns, app_id, header, prepend, **prepost_kwargs))
        except AppError as exc:
            if "no marked callbacks" in str(exc):
                raise TypeError(str(exc)) from exc
            raise

    def unload_app(self, on_value: str, ns: Any = None) -> None:
        if on_value not in self.core.apps:
            return  # switchio: already unloaded is fine
        loop.run(self.core.unload_app(on_value, ns))


def _orig_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    """switchio's ``build_originate_cmd`` keyword names -> the core's."""
    out = dict(kwargs)
    if "app_arg_str" in out:
        out["app_arg"] = out.pop("app_arg_str")
    xheaders = out.pop("xheaders", None) or {}
    for k, v in xheaders.items():
        out[k if k.startswith("sip_h_") else f"sip_h_{k}"] = v
    for drop in ("uuid_str",):
        out.pop(drop, None)
    return out


@contextlib.contextmanager
def get_client(host: str = "127.0.0.1", port: int | str = 8021, auth: str = "ClueCon",
               apps: dict[str, Any] | None = None, **kwargs: Any) -> Iterator[Client]:
    """``with get_client(host, apps={'id': App}) as client:`` connected, apps loaded."""
    client = Client(host, port, auth, **kwargs)
    client.connect()
    try:
        for app_id, ns in (apps or {}).items():
            client.load_app(ns, on_value=app_id)
        yield client
    finally:
        client.disconnect()


class Connection:
    """switchio's ``connection.Connection``: a blocking raw ESL connection."""

    def __init__(self, host: str = "127.0.0.1", port: int | str = 8021,
                 auth: str = "ClueCon", **kwargs: Any) -> None:
        self.host, self.port = host, int(port)
        kwargs.setdefault("reconnect", False)
        self._con = loop.call(InboundClient, host, self.port, auth, **kwargs)

    def connect(self) -> None:
        loop.run(self._con.connect())

    def disconnect(self) -> None:
        loop.run(self._con.close())

    def connected(self) -> bool:
        return self._con.connected

    def api(self, cmd: str) -> str:
        body = loop.run(self._con.api(cmd))
        if is_error(body):
            raise APIError(cmd, body.strip())
        return body

    def cmd(self, cmd: str) -> str:
        return self.api(cmd).strip()

    def bgapi(self, cmd: str) -> Any:
        return loop.run(self._con.bgapi(cmd))

    def subscribe(self, *events: str) -> None:
        loop.run(self._con.subscribe(*events))


def get_connection(host: str = "127.0.0.1", port: int | str = 8021, auth: str = "ClueCon",
                   **kwargs: Any) -> Connection:
    """switchio's ``get_connection``: a (not yet connected) :class:`Connection`."""
    return Connection(host, port, auth, **kwargs)


class MultiEval:
    """Evaluate an expression on every object of a collection (switchio's ``MultiEval``):
    ``MultiEval(clients).evals('client.api("status")')`` -> a tuple of results."""

    def __init__(self, slaves: Iterable[Any] = (), delegator: Any = None,
                 accessor: str = ".") -> None:
        self._slaves = list(slaves)

    def __len__(self) -> int:
        return len(self._slaves)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._slaves)

    def attrs(self, obj: Any = None) -> tuple[Any, ...]:
        return tuple(getattr(s, obj) for s in self._slaves) if obj else tuple(self._slaves)

    def evals(self, expr: str, **kwargs: Any) -> tuple[Any, ...]:
        """``expr`` with the name ``client`` (or ``item``) bound to each member."""
        out = []
        for s in self._slaves:
            ns = {"client": s, "item": s, "listener": getattr(s, "listener", None), **kwargs}
            out.append(eval(expr, {}, ns))  # noqa: S307 - switchio's documented use
        return tuple(out)

    def __getattr__(self, name: str) -> Any:
        values = [getattr(s, name) for s in self._slaves]
        if values and all(callable(v) for v in values):
            return lambda *a, **k: tuple(v(*a, **k) for v in values)
        return tuple(values)


class SlavePool(MultiEval):
    """switchio's ``SlavePool``: a :class:`MultiEval` of compat Clients."""

    @property
    def clients(self) -> list[Client]:
        return list(self._slaves)

    @property
    def listeners(self) -> list[EventListener]:
        return [c.listener for c in self._slaves]


def get_pool(contacts: Any, **kwargs: Any) -> SlavePool:
    """switchio's ``api.get_pool``: a :class:`SlavePool` of connected Clients, one a
    contact (``host``, ``host:port`` or an embedded node)."""
    port = int(kwargs.pop("port", 8021))
    auth = kwargs.pop("auth", "ClueCon")
    if isinstance(contacts, (str, bytes)) or not isinstance(contacts, Iterable):
        contacts = [contacts]
    clients = []
    for contact in contacts:
        for host, p, password in split_contact(contact, port, auth):
            client = Client(host, p, password, **kwargs)
            client.connect()
            clients.append(client)
    return SlavePool(clients)


__all__ = ["Client", "Connection", "MultiEval", "SlavePool", "get_client", "get_connection",
           "get_pool", "marks"]
