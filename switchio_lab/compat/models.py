"""Thread-safe faces of the core's models for blocking code: a :class:`Job` whose ``get()``
blocks and gives the session uuid, and a :class:`Session` whose controls may be called from
any thread (they run on the compat loop)."""

from __future__ import annotations

import asyncio
import concurrent.futures
from typing import Any

from ..connection import Job as CoreJob
from ..core.call import Call as CoreCall
from ..core.session import Session as CoreSession
from . import loop
from .utils import APIError


class Job:
    """switchio's ``models.Job``: ``get(timeout)`` blocks for the result, which for an
    originate is the new session's uuid (switchio's docs); ``successful()`` is a method."""

    def __init__(self, job: CoreJob) -> None:
        self._job = job

    def __getattr__(self, name: str) -> Any:
        return getattr(self._job, name)

    def __repr__(self) -> str:
        return f"<compat {self._job!r}>"

    @property
    def core(self) -> CoreJob:
        return self._job

    def _value(self, text: str) -> str:
        if text.startswith("+OK"):
            return text[3:].strip() or self._job.sess_uuid or ""
        raise APIError(self._job.command, text.strip())

    def get(self, timeout: float | None = None) -> str:
        """Block until the job is done; ``+OK <uuid>`` -> ``<uuid>``; ``-ERR`` raises
        :class:`~switchio_lab.compat.utils.APIError`."""
        text = loop.run(self._job.wait(timeout))
        return self._value(text)

    @property
    def result(self) -> str | None:
        text = self._job.result
        if text is None:
            return None
        return text[3:].strip() if text.startswith("+OK") else text.strip()

    def successful(self) -> bool:
        return bool(self._job.success)

    def ready(self) -> bool:
        return self._job.done()

    def done(self) -> bool:
        return self._job.done()

    def wait(self, timeout: float | None = None) -> None:
        try:
            loop.run(self._job.wait(timeout))
        except Exception:
            pass


class _Proxy:
    """A core model usable from blocking code: attributes read directly (models inside
    wrapped too); a control method runs on the compat loop, and a task it returns comes
    back as a :class:`concurrent.futures.Future` (``.result(timeout)``)."""

    _core_type: type = object

    def __init__(self, obj: Any) -> None:
        object.__setattr__(self, "_obj", obj)

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._obj, name)
        if callable(value) and not name.startswith("_") and hasattr(self._core_type, name):
            func = value

            def control(*args: Any, **kwargs: Any) -> Any:
                args = tuple(getattr(a, "core", a) for a in args)
                if loop.in_loop_thread():
                    return func(*args, **kwargs)
                return _out(loop.call(func, *args, **kwargs))
            return control
        return _out(value)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._obj, name, value)

    def __eq__(self, other: object) -> bool:
        return self._obj is getattr(other, "_obj", other)

    def __hash__(self) -> int:
        return hash(self._obj)

    def __repr__(self) -> str:
        return repr(self._obj)

    @property
    def core(self) -> Any:
        """The core model underneath."""
        return self._obj


class Session(_Proxy):
    """A :class:`~switchio_lab.core.session.Session` for blocking code (see :class:`_Proxy`):
    ``sess.hangup()`` from a script works while the loop runs in its thread."""

    _core_type = CoreSession

    def __getitem__(self, key: str) -> str:
        return self._obj[key]

    def __contains__(self, key: str) -> bool:
        return key in self._obj

    @property
    def con(self) -> Any:
        """switchio's ``Session.con``: the connection that controls this session."""
        return self._obj.client.connection

    @property
    def events(self) -> list[Any]:
        """The session's events in switchio's order: ``events[0]`` is the newest,
        ``events[-1]`` the oldest (the core keeps them oldest first)."""
        return list(reversed(list(getattr(self._obj, "events", None) or ())))

    def recv(self, name: str, timeout: float | None = None) -> concurrent.futures.Future:
        """Wait for event ``name`` from blocking code: a Future (``.result(timeout)``)."""
        async def wait() -> Any:
            return await self._obj.recv(name, timeout)
        return loop.submit(wait())


class Call(_Proxy):
    """A :class:`~switchio_lab.core.call.Call` for blocking code: ``call.hangup()``,
    ``call.sessions[0]`` (a blocking-safe :class:`Session`)."""

    _core_type = CoreCall


def _out(value: Any) -> Any:
    if isinstance(value, CoreSession):
        return Session(value)
    if isinstance(value, CoreCall):
        return Call(value)
    if isinstance(value, list) and value and isinstance(value[0], (CoreSession, CoreCall)):
        return [_out(v) for v in value]
    if isinstance(value, asyncio.Task):
        return _threadsafe(value)
    return value


def _threadsafe(task: Any) -> concurrent.futures.Future:
    async def wait() -> Any:
        return await task
    return loop.submit(wait())


def wrap_session(sess: Any) -> Any:
    if sess is None or isinstance(sess, _Proxy):
        return sess
    return _out(sess)


__all__ = ["Call", "Job", "Session", "wrap_session"]
