"""The call-control client: one Event Socket connection, its listener, and the apps.

>>> async with Client("127.0.0.1", 8021) as client:           # doctest: +SKIP
...     app_id = await client.load_app(TonePlay)
...     job = await client.originate("1000@127.0.0.2:5080", app_id=app_id)
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import uuid as uuidlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from ..connection import InboundClient, Job, is_error
from ..connection.errors import ApiError
from . import marks
from .errors import AppError
from .listener import TRACKING_EVENTS, EventListener, event_words, prepost_arguments
from .pool import NodePool

log = logging.getLogger("switchio_lab")


class Client:
    """Control one FreeSWITCH (or embedded) node: api/bgapi, originate, and apps.

    The connection reconnects by itself (``reconnect=True``); its state callback tells
    the listener, which re-synchronises its sessions from ``show channels as json`` once
    reconnected (see :meth:`~switchio_lab.handlers.EventListener.resync`).
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 8021, auth: str = "ClueCon", *,
                 call_tracking_header: str = "variable_switchio_call",
                 app_id_var: str = "switchio_app", timeout: float = 30.0,
                 reconnect: bool = True, connection: InboundClient | None = None) -> None:
        self.host = host
        self.port = port
        self.connection = connection or InboundClient(host, port, auth, timeout=timeout,
                                                      reconnect=reconnect)
        self.app_id_var = app_id_var
        self.listener = EventListener(
            self, call_tracking_header=call_tracking_header,
            app_id_headers=(f"variable_{app_id_var}", f"variable_sip_h_X-{app_id_var}"))
        self._teardowns: dict[int, Callable[[], Any]] = {}
        self.pool: Any = None  # the NodePool this client belongs to, if any
        self.connection.on_event(self.listener.dispatch)
        # after a reconnect the listener re-synchronises its sessions with the switch
        # (``show channels as json``): see EventListener.resync
        self.connection.on_state(self.listener.on_connection_state)

    def __repr__(self) -> str:
        return f"<Client {self.host}:{self.port} apps={list(self.apps)}>"

    # -- connection ---------------------------------------------------------------------
    async def connect(self) -> Client:
        """Connect, authenticate and subscribe to what the listener and apps need."""
        if not self.connection.connected:
            await self.connection.connect()
        await self.connection.subscribe(*event_words(sorted(self.listener.events_needed())))
        return self

    async def disconnect(self) -> None:
        for app_id in list(self.listener.apps):
            await self.unload_app(app_id)
        await self.connection.close()

    async def __aenter__(self) -> Client:
        return await self.connect()

    async def __aexit__(self, *exc: object) -> None:
        await self.disconnect()

    @property
    def connected(self) -> bool:
        return self.connection.connected

    # -- commands -------------------------------------------------------------------------
    async def api(self, cmd: str, *, check: bool = False, timeout: float | None = None,
                  max_reply: int | None = None) -> str:
        """``api <cmd>``: the response body (``check=True`` raises on ``-ERR``;
        ``max_reply``: a larger cap than 16 MiB for this answer)."""
        return await self.connection.api(cmd, check=check, timeout=timeout,
                                         max_reply=max_reply)

    async def cmd(self, cmd: str) -> str:
        """``api <cmd>`` with the result stripped; raises :class:`ApiError` on ``-ERR``."""
        return (await self.connection.api(cmd, check=True)).strip()

    async def bgapi(self, cmd: str, *, sess_uuid: str | None = None) -> Job:
        """``bgapi <cmd>``: a :class:`~switchio_lab.models.Job` tracked by the listener."""
        job_uuid = str(uuidlib.uuid4())
        self.listener.expect_job(job_uuid)  # its result may come with the reply
        try:
            conn_job = await self.connection.bgapi(cmd, job_uuid=job_uuid)
        except BaseException:
            self.listener.forget_job(job_uuid)
            raise
        job = conn_job
        job.sess_uuid = sess_uuid
        self.listener.register_job(job)
        return job

    async def hupall(self, name: str | None = None, timeout: float | None = None) -> None:
        """Hang up every call (of app ``name`` if given); wait up to ``timeout`` for them."""
        if name:
            await self.api(f"hupall NORMAL_CLEARING {self.app_id_var} {name}")
        else:
            await self.api("hupall")
        if timeout:
            async def gone() -> None:
                while any(name is None or s.appname == name
                          for s in self.listener.sessions.values()):
                    await asyncio.sleep(0.02)
            await asyncio.wait_for(gone(), timeout)

    def originate_string(self, dest_url: str, *, app_id: str | None = None,
                         uuid: str | None = None, profile: str = "external",
                         proxy: str | None = None, endpoint: str = "sofia",
                         app_name: str = "park", app_arg: str = "",
                         **orig_kwargs: Any) -> tuple[str, str]:
        """The originate command (and the caller's uuid) for ``dest_url``.

        The app id goes in the ``switchio_app`` variable *and* a SIP X-header, and the call
        id likewise, so both legs of the call are tagged (see the ``call_xheaders``
        capture).
        """
        uuid = uuid or str(uuidlib.uuid4())
        variables: dict[str, Any] = {"origination_uuid": uuid,
                                     "switchio_call": uuid, "sip_h_X-switchio_call": uuid}
        if app_id is not None:
            variables[self.app_id_var] = app_id
            variables[f"sip_h_X-{self.app_id_var}"] = app_id
        variables.update(orig_kwargs)
        varset = ",".join(f"{k}={v}" for k, v in variables.items())
        url = dest_url if "/" in dest_url else f"{endpoint}/{profile}/{dest_url}"
        if proxy:
            url += f";fs_path=sip:{proxy}"
        app = f"&{app_name}({app_arg})"
        return f"originate {{{varset}}}{url} {app}", uuid

    async def originate(self, dest_url: str, *, app_id: str | None = None,
                        uuid: str | None = None, bgapi: bool = True, **kwargs: Any
                        ) -> Job | str:
        """Place a call to ``dest_url`` (``user@host:port`` or a full dial string).

        Returns the bgapi :class:`~switchio_lab.models.Job` (or, with ``bgapi=False``,
        the api result text). With no ``app_id`` the call belongs to the ``default`` app.
        """
        if app_id is not None and app_id not in self.listener.apps:
            raise AppError(f"no app loaded under id {app_id!r} (loaded: "
                           f"{sorted(self.listener.apps)})")
        cmd, sess_uuid = self.originate_string(dest_url, app_id=app_id, uuid=uuid, **kwargs)
        if not bgapi:
            return await self.api(cmd)
        return await self.bgapi(cmd, sess_uuid=sess_uuid)

    # -- apps -----------------------------------------------------------------------------
    @property
    def apps(self) -> dict[str, Any]:
        """The loaded app instances by app id."""
        return {app_id: v.ns for app_id, v in self.listener.apps.items()}

    async def load_app(self, ns: Any, on_value: str | None = None, header: str | None = None,
                       prepend: bool = False, *, replace: bool = False,
                       app_id: str | None = None, observe: bool = False,
                       **prepost_kwargs: Any) -> str:
        """Load app ``ns`` (a class is instantiated) under ``on_value`` (its id).

        With ``observe=True`` the app is an observer (a measurer such as the CDR): it is
        never chosen by app id and sees the events of every session instead.

        The id defaults to ``default`` for the first app, else the app's name. Loading
        under an id that is in use raises unless ``replace=True`` (a hot-swap: see
        :meth:`reload_app`). ``prepost`` runs first, with its arguments filled by name
        (``client``, ``listener``) and ``prepost_kwargs``; if it fails nothing is
        registered.
        """
        if app_id is not None:  # switchio's Service examples spell the id app_id=
            if on_value is not None and on_value != app_id:
                raise TypeError("give the app id once: on_value or app_id")
            on_value = app_id
        del prepend
        instance = ns() if inspect.isclass(ns) else ns
        if not marks.has_callbacks(instance):
            raise AppError(f"{_name(instance)} has no marked callbacks (@callback, "
                           "@coroutine or @handler): it is not an app")
        app_id = on_value or ("default" if "default" not in self.listener.apps
                              else _name(instance))
        if app_id in self.listener.apps and not replace:
            raise AppError(f"an app is already loaded under {app_id!r}; pass replace=True "
                           "(or use reload_app) to swap it")
        teardown = await self._prepost(instance, prepost_kwargs)
        try:
            # subscribe before the app gets calls, so none of their events is missed
            needed = marks.subscriptions(instance) - set(TRACKING_EVENTS)
            missing = sorted(n for n in needed if not self.connection.is_subscribed(n))
            if missing and self.connection.connected:
                await self.connection.subscribe(*event_words(missing))
            if app_id in self.listener.apps and not replace:  # loaded meanwhile
                raise AppError(f"an app was loaded under {app_id!r} while {_name(instance)} "
                               "was being set up; pass replace=True to swap it")
        except BaseException:
            if teardown is not None:
                teardown()
            raise
        if header is not None and header not in self.listener.app_id_headers:
            self.listener.app_id_headers.insert(0, header)
        version, old = self.listener.add_app(app_id, instance, teardown, observe=observe)
        if old is not None:
            log.info("app %s: swapped %s v%d -> %s v%d (%d call(s) stay on the old code)",
                     app_id, old.name, old.version, version.name, version.version, old.calls)
        return app_id

    async def reload_app(self, ns: Any, on_value: str = "default", **prepost_kwargs: Any
                         ) -> str:
        """Hot-swap the app loaded under ``on_value`` for ``ns`` (new calls get it)."""
        return await self.load_app(ns, on_value, replace=True, **prepost_kwargs)

    async def unload_app(self, app_id: str, ns: Any = None) -> None:
        """Unload the app ``app_id`` (its teardown runs once its last call ends)."""
        version = self.listener.apps.get(app_id)
        if version is None or (ns is not None and version.ns is not ns
                               and type(version.ns) is not ns):
            raise AppError(f"no app {app_id!r} loaded" + (f" as {ns!r}" if ns else ""))
        self.listener.remove_app(app_id)

    async def _prepost(self, instance: Any, kwargs: dict[str, Any]) -> Callable[[], Any] | None:
        func = getattr(instance, "prepost", None)
        if func is None:
            if kwargs:
                raise AppError(f"{_name(instance)} has no prepost to take {sorted(kwargs)}")
            return None
        pool = self.pool
        if pool is None:
            pool = NodePool([self])  # a lone client is a pool of one
        available = {"client": self, "listener": self.listener, "connection": self.connection,
                     "pool": pool}
        try:
            args = prepost_arguments(func, available, kwargs)
        except TypeError as exc:
            raise AppError(f"{_name(instance)}.{exc}") from None
        try:
            result = func(**args)
            if inspect.isawaitable(result):
                result = await result
        except AppError:  # the app's own words on why it cannot load: pass them on as such
            raise
        except Exception as exc:
            raise AppError(f"prepost of {_name(instance)} failed: {exc!r}") from exc
        if inspect.isgenerator(result):
            try:
                next(result)
            except StopIteration:
                return None
            except AppError:
                raise
            except Exception as exc:
                raise AppError(f"prepost of {_name(instance)} failed: {exc!r}") from exc

            def teardown(gen=result) -> None:
                with contextlib.suppress(StopIteration):
                    next(gen)
            return teardown
        return None


def _name(ns: Any) -> str:
    return getattr(ns, "__name__", None) or type(ns).__name__


@contextlib.asynccontextmanager
async def get_client(host: str = "127.0.0.1", port: int = 8021, auth: str = "ClueCon",
                     apps: dict[str, Any] | None = None, **kwargs: Any
                     ) -> AsyncIterator[Client]:
    """``async with get_client(host, apps={"id": App}) as client:`` connected, apps loaded."""
    client = Client(host, port, auth, **kwargs)
    await client.connect()
    try:
        for app_id, ns in (apps or {}).items():
            await client.load_app(ns, on_value=app_id)
        yield client
    finally:
        await client.disconnect()


__all__ = ["ApiError", "AppError", "Client", "get_client", "is_error"]
