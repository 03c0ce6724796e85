"""Blocking calls, for scripts and notebook cells that don't ``await``.

Everything on :class:`~switchio_lab.api.Client`, :class:`~switchio_lab.service.Service`,
:class:`~switchio_lab.pool.NodePool` and :class:`~switchio_lab.apps.AppManager` is a
coroutine (``await client.api("status")``); session controls (``sess.answer()``) return
tasks. This module wraps them in calls that *block* until the result is there::

    from switchio_lab.sync import SyncClient, run, sync_caller

    client = SyncClient("127.0.0.1", 8021)        # connected
    client.api("status")                          # -> the body, like await client.api(...)
    client.load_app(TonePlay, on_value="tone")
    job = client.originate("1000@127.0.0.2:5080", app_id="tone")
    client.wait(job, timeout=5)                   # -> "+OK <uuid>"
    client.hupall()
    run(any_coroutine())                          # anything else that can be awaited

    with sync_caller("127.0.0.1", apps={"tone": TonePlay}) as caller:
        sess, job = caller("1000@127.0.0.2:5080", "tone")   # returns once answered

Which loop runs it: :func:`run` drives the current thread's event loop.

- No loop running (a script, a plain test, a thread): a loop owned by this module, made
  with ``asyncio.new_event_loop()`` once per thread and *reused*, so connections (and
  embedded nodes started with ``run(Node(...).start())``) survive from one call to the
  next. No threads are started. :func:`close` closes it (also done at exit).
- A loop already running in this thread (a Jupyter kernel, or an ``async def``): that
  loop is re-entered with ``nest_asyncio2`` (applied lazily, once per loop), so the cell
  blocks while the loop keeps serving every other task. A client stays on the loop it
  first ran on: using it from another loop raises :class:`RuntimeError`. Inside apps
  use ``await``: a blocking call from a plain callback running on the loop (an app's
  ``@callback``) is refused, since it would re-enter the event dispatch under it.

Events while a call blocks: the loop runs during every blocking call, so events are read,
sessions tracked and apps run meanwhile (``sleep(2)`` is the way to let a script's calls
progress; ``time.sleep`` would freeze them). While no loop runs -- between two calls in a
script, or while a *long synchronous* cell computes in a kernel -- nothing is read:
events wait in FreeSWITCH's queue and the socket buffers, and the client catches up on
the next call (or when the cell ends). FreeSWITCH queues up to 100,000 events per
listener and drops a listener once more than 500 events are lost, so keep such pauses
short under load.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import threading
import weakref
from collections.abc import Awaitable, Iterator
from typing import Any, TypeVar

from ..connection import Job
from .client import Client
from .errors import OriginateError
from .pool import split_contact
from .session import Session

T = TypeVar("T")

_local = threading.local()  # this thread's own loop (used when none is running)
_nested: weakref.WeakSet[asyncio.AbstractEventLoop] = weakref.WeakSet()


# -- the loop -------------------------------------------------------------------------------
def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def get_loop() -> asyncio.AbstractEventLoop:
    """The loop :func:`run` would use here: the running one, else this thread's own."""
    loop = _running_loop()
    if loop is not None:
        return loop
    own = getattr(_local, "loop", None)
    if own is None or own.is_closed():
        own = _local.loop = asyncio.new_event_loop()
    return own


def _nest(loop: asyncio.AbstractEventLoop) -> None:
    """Make ``loop`` re-entrant (once): nest_asyncio2 patches it so it can run nested."""
    if loop in _nested:
        return
    try:
        import nest_asyncio2
    except ImportError:  # pragma: no cover - a dependency of the package
        raise RuntimeError("blocking calls inside a running event loop (a notebook) need "
                           "nest-asyncio2: pip install nest-asyncio2") from None
    nest_asyncio2.apply(loop)
    _nested.add(loop)


def run(aw: Awaitable[T], *, timeout: float | None = None) -> T:
    """Run awaitable ``aw`` to completion and return its result (see the module doc).

    ``timeout`` (seconds) cancels it and raises :class:`TimeoutError`. An exception,
    or Ctrl-C, cancels it too; the loop stays usable for the next call.
    """
    running = _running_loop()
    loop = get_loop()
    if running is not None:
        if asyncio.current_task(running) is None:
            close = getattr(aw, "close", None)
            if close is not None:
                close()  # an un-awaited coroutine: say nothing about it
            raise RuntimeError(
                "a blocking call from a plain callback running on the event loop (an app's "
                "@callback, a call_soon) would re-enter the event dispatch under it: await "
                "the coroutine instead (in an @coroutine), or start it with "
                "asyncio.ensure_future()")
        _nest(running)
    if timeout is not None:
        aw = asyncio.wait_for(aw, timeout)
    task = asyncio.ensure_future(aw, loop=loop)
    try:
        return loop.run_until_complete(task)
    except asyncio.TimeoutError as exc:
        if isinstance(exc, TimeoutError):
            raise
        raise TimeoutError(str(exc) or f"not done within {timeout} s") from exc  # Python 3.10
    except BaseException:
        if not task.done():  # interrupted (Ctrl-C): cancel, and let it unwind
            task.cancel()
            with contextlib.suppress(BaseException):
                loop.run_until_complete(asyncio.wait([task], timeout=1.0))
        raise


def sleep(seconds: float) -> None:
    """Block for ``seconds`` while the loop runs (events are handled meanwhile)."""
    run(asyncio.sleep(seconds))


def close() -> None:
    """Close this thread's own loop: cancel its tasks, then close it. Idempotent.

    Clients and nodes that lived on it are gone; the next :func:`run` makes a new loop.
    """
    loop = getattr(_local, "loop", None)
    _local.loop = None
    if loop is None or loop.is_closed() or loop.is_running():
        return
    try:
        tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            loop.run_until_complete(asyncio.wait(tasks, timeout=2.0))
        loop.run_until_complete(loop.shutdown_asyncgens())
    finally:
        loop.close()


atexit.register(close)


# -- a blocking client --------------------------------------------------------------------
class SyncClient:
    """A :class:`~switchio_lab.api.Client` whose calls block and return results.

    ``SyncClient("127.0.0.1", 8021)``, ``SyncClient("127.0.0.1:8021")``,
    ``SyncClient(node)`` (an embedded node) or ``SyncClient(client)`` (wrap a Client).
    Connects at once unless ``connect=False``; ``with SyncClient(...) as c:``
    disconnects at the end. The async client is :attr:`client`.
    """

    def __init__(self, host: Any = "127.0.0.1", port: int = 8021, auth: str = "ClueCon", *,
                 connect: bool = True, **client_kwargs: Any) -> None:
        if isinstance(host, Client):
            self.client = host
        else:
            contacts = split_contact(host, port, auth)
            if len(contacts) != 1:
                raise ValueError(f"a SyncClient talks to one node; {host!r} names "
                                 f"{len(contacts)} (use a Service for a cluster)")
            (h, p, password), = contacts
            self.client = Client(h, p, password, **client_kwargs)
        self._loop: asyncio.AbstractEventLoop | None = None
        if connect:
            self.connect()

    def __repr__(self) -> str:
        return f"<SyncClient {self.client.host}:{self.client.port} apps={list(self.apps)}>"

    def _run(self, aw: Awaitable[T], timeout: float | None = None) -> T:
        loop = get_loop()
        if self._loop is None:
            self._loop = loop
        elif loop is not self._loop:
            close = getattr(aw, "close", None)
            if close is not None:
                close()  # an un-awaited coroutine: say nothing about it
            state = "was closed" if self._loop.is_closed() else "is not the one running here"
            raise RuntimeError(f"{self!r} lives on the event loop it first ran on, which "
                               f"{state}; a client cannot move between loops")
        return run(aw, timeout=timeout)

    def wait(self, aw: Awaitable[T], timeout: float | None = None) -> T:
        """Block until ``aw`` (a Job, ``sess.recv(...)``, any awaitable) is done."""
        return self._run(aw, timeout)

    def sleep(self, seconds: float) -> None:
        """Block for ``seconds`` while this client keeps handling events."""
        self._run(asyncio.sleep(seconds))

    # -- state --------------------------------------------------------------------------
    @property
    def host(self) -> str:
        return self.client.host

    @property
    def port(self) -> int:
        return self.client.port

    @property
    def listener(self) -> Any:
        return self.client.listener

    @property
    def apps(self) -> dict[str, Any]:
        return self.client.apps

    @property
    def connected(self) -> bool:
        return self.client.connected

    # -- blocking versions of the Client's coroutines --------------------------------------
    def connect(self) -> SyncClient:
        self._run(self.client.connect())
        return self

    def disconnect(self) -> None:
        self._run(self.client.disconnect())

    def __enter__(self) -> SyncClient:
        if not self.connected:
            self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.disconnect()

    def api(self, cmd: str, *, check: bool = False, timeout: float | None = None) -> str:
        return self._run(self.client.api(cmd, check=check, timeout=timeout))

    def cmd(self, cmd: str) -> str:
        return self._run(self.client.cmd(cmd))

    def bgapi(self, cmd: str, **kwargs: Any) -> Job:
        """Send ``bgapi``; returns the Job at once (``wait(job)`` blocks for its result)."""
        return self._run(self.client.bgapi(cmd, **kwargs))

    def originate(self, dest_url: str, **kwargs: Any) -> Job | str:
        """Place a call; returns its Job once sent (see :meth:`Client.originate`)."""
        return self._run(self.client.originate(dest_url, **kwargs))

    def hupall(self, name: str | None = None, timeout: float | None = None) -> None:
        self._run(self.client.hupall(name, timeout))

    def load_app(self, ns: Any, on_value: str | None = None, header: str | None = None,
                 prepend: bool = False, *, replace: bool = False, **prepost_kwargs: Any
                 ) -> str:
        return self._run(self.client.load_app(ns, on_value, header, prepend,
                                              replace=replace, **prepost_kwargs))

    def reload_app(self, ns: Any, on_value: str = "default", **prepost_kwargs: Any) -> str:
        return self._run(self.client.reload_app(ns, on_value, **prepost_kwargs))

    def unload_app(self, app_id: str, ns: Any = None) -> None:
        self._run(self.client.unload_app(app_id, ns))


# -- a blocking caller ------------------------------------------------------------------
class Caller:
    """``caller(dest_url, app_name)`` places a call and returns once it is answered."""

    def __init__(self, client: SyncClient) -> None:
        self.client = client

    @property
    def apps(self) -> dict[str, Any]:
        return self.client.apps

    @property
    def app_names(self) -> list[str]:
        return list(self.client.apps)

    def __call__(self, dest_url: str, app_name: str, timeout: float = 30,
                 waitfor: tuple[str, float] | None = None, **orig_kwargs: Any
                 ) -> tuple[Session, Job]:
        """Call ``dest_url`` with app ``app_name``; block until the call is answered.

        Returns the originating :class:`~switchio_lab.models.Session` and the
        :class:`~switchio_lab.models.Job`. ``waitfor=(varname, seconds)`` also waits for
        ``sess.vars[varname]`` to be set (by the app). Raises :class:`OriginateError` if
        the call fails and :class:`TimeoutError` after ``timeout`` seconds.
        """
        return self.client._run(self._call(dest_url, app_name, timeout, waitfor, orig_kwargs))

    async def _call(self, dest_url: str, app_name: str, timeout: float,
                    waitfor: tuple[str, float] | None, orig_kwargs: dict[str, Any]
                    ) -> tuple[Session, Job]:
        client = self.client.client
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        job = await client.originate(dest_url, app_id=app_name, **orig_kwargs)
        assert isinstance(job, Job)
        try:
            await job.wait(timeout)
        except asyncio.TimeoutError:
            raise TimeoutError(f"call to {dest_url} not answered within {timeout:g} s "
                               f"(job {job.uuid} still waiting)") from None
        if not job.successful:
            raise OriginateError(dest_url, job)
        listener = client.listener
        while True:  # the job's "+OK" means answered; the session catches up at once
            sess = listener.sessions.get(job.sess_uuid or "") or job.session
            if sess is not None and (sess.answered or sess.hungup):
                break
            if loop.time() > deadline:
                raise TimeoutError(f"call to {dest_url}: no answered session {job.sess_uuid} "
                                   f"within {timeout:g} s")
            await asyncio.sleep(0.005)
        if waitfor:
            varname, seconds = waitfor
            await listener.waitfor(sess, varname, seconds)
        return sess, job

    def waitfor(self, sess: Session, varname: str, timeout: float | None = None) -> Any:
        """Block until ``sess.vars[varname]`` is set; returns its value."""
        async def wait() -> Any:
            return await self.client.listener.waitfor(sess, varname, timeout)
        return self.client._run(wait())

    def hupall(self, timeout: float | None = 5) -> None:
        self.client.hupall(timeout=timeout)


@contextlib.contextmanager
def sync_caller(host: Any = "127.0.0.1", port: int = 8021, auth: str = "ClueCon",
                apps: dict[str, Any] | None = None, **client_kwargs: Any) -> Iterator[Caller]:
    """``with sync_caller(host, apps={"id": App}) as caller:`` a connected blocking caller.

    The apps are loaded under their ids; at the end the client disconnects (unloading
    them). ``caller.client`` is the :class:`SyncClient`.
    """
    client = SyncClient(host, port, auth, **client_kwargs)
    try:
        for app_id, ns in (apps or {}).items():
            client.load_app(ns, on_value=app_id)
        yield Caller(client)
    finally:
        client.disconnect()


__all__ = ["Caller", "OriginateError", "SyncClient", "close", "get_loop", "run", "sleep",
           "sync_caller"]
