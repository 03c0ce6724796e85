"""Thread-safe faces of the core's models for blocking code: a :class:`Job` whose ``get()``
blocks and gives the session uuid, and a :class:`Session` whose controls may be called from
any thread (they run on the compat loop)."""

from __future__ import annotations

import concurrent.futures
from typing import Any

from ..connection import Job as CoreJob
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


class Session:
    """A :class:`~switchio_lab.core.session.Session` usable from blocking code: reading
    attributes is direct; a control (``hangup()``, ``answer()``, ``setvar()`` ...) runs on
    the compat loop and returns a :class:`concurrent.futures.Future` of its result."""

    def __init__(self, sess: CoreSession) -> None:
        object.__setattr__(self, "_sess", sess)

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._sess, name)
        if callable(value) and not name.startswith("_") and hasattr(CoreSession, name):
            func = value

            def control(*args: Any, **kwargs: Any) -> Any:
                if loop.in_loop_thread():
                    return func(*args, **kwargs)
                result = loop.call(func, *args, **kwargs)
                if hasattr(result, "add_done_callback") and hasattr(result, "get_loop"):
                    return _threadsafe(result)
                return result
            return control
        return value

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._sess, name, value)

    def __eq__(self, other: object) -> bool:
        other = getattr(other, "_sess", other)
        return self._sess is other

    def __hash__(self) -> int:
        return hash(self._sess)

    def __repr__(self) -> str:
        return repr(self._sess)

    @property
    def core(self) -> CoreSession:
        return self._sess

    @property
    def con(self) -> Any:
        """switchio's ``Session.con``: the connection that controls this session."""
        return self._sess.client.connection

    @property
    def events(self) -> Any:
        """The session's events, switchio's order: ``events[0]`` is the newest,
        ``events[-1]`` the oldest (the core keeps them oldest first)."""
        events = getattr(self._sess, "events", None)
        if events is None:
            return []
        return list(reversed(list(events)))

    def recv(self, name: str, timeout: float | None = None) -> concurrent.futures.Future:
        """Wait for event ``name`` from blocking code: a Future (``.result(timeout)``)."""
        return loop.submit(self._sess.recv(name, timeout))


def _threadsafe(task: Any) -> concurrent.futures.Future:
    async def wait() -> Any:
        return await task
    return loop.submit(wait())


def wrap_session(sess: Any) -> Any:
    if sess is None or isinstance(sess, Session):
        return sess
    return Session(sess)


__all__ = ["Job", "Session", "wrap_session"]
