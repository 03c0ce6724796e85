"""Sessions, calls and jobs: the models apps work with.

A :class:`Session` is one channel (call leg) as the :class:`~switchio_lab.handlers.EventListener`
sees it: the headers of its latest events, app state in :attr:`Session.vars`, and control
methods. Control methods send their command at once and return an awaitable task:
``await sess.answer()`` resumes when the session is answered, while a plain callback may
fire ``sess.answer()`` without awaiting (errors are then logged, never lost).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Iterable
from sys import intern as _intern
from typing import TYPE_CHECKING, Any

from ..connection import ApiError
from ..esl import Event
from .errors import SessionEnded

if TYPE_CHECKING:
    from ..connection import Job
    from .call import Call
    from .client import Client
    from .listener import AppVersion

log = logging.getLogger("switchio_lab")

DEFAULT_WAIT = 30.0


def event_key(event: Event) -> str:
    """The name apps know an event by (:attr:`switchio_lab.esl.Event.key`)."""
    return event.key


def _event_time(event: Event) -> float:
    stamp = event.get("Event-Date-Timestamp")
    return int(stamp) / 1e6 if stamp and stamp.isdigit() else time.time()


async def _nothing() -> None:
    return None


def _log_failure(task: asyncio.Task[Any]) -> None:
    if task.cancelled():
        return
    exc = task.exception()
    if exc is not None:
        log.error("%s failed: %s", getattr(task, "label", task.get_name()), exc,
                  exc_info=exc)


class _SessionLog(logging.LoggerAdapter):
    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        return f"session {self.extra['uuid']}: {msg}", kwargs  # type: ignore[index]


#: headers of a session's first event kept for its whole life (who and where the leg is)
IDENTITY_HEADERS = (
    "Unique-ID", "Call-Direction", "Channel-Name", "Core-UUID", "Caller-Unique-ID",
    "Caller-Caller-ID-Name", "Caller-Caller-ID-Number", "Caller-Destination-Number",
    "Caller-Network-Addr", "Other-Leg-Unique-ID", "variable_call_uuid",
    "variable_sip_req_uri", "variable_sofia_profile_name", "variable_switchio_app",
    "variable_switchio_call", "variable_sip_h_X-switchio_app", "variable_sip_h_X-switchio_call",
)

_IDENTITY_INDEX = {name: i for i, name in enumerate(IDENTITY_HEADERS)}
#: headers every event carries (or identity ones): never worth a merged-view entry
_NOT_MERGED = frozenset(IDENTITY_HEADERS) | {
    "Event-Name", "Event-Date-Timestamp", "Event-Date-Local", "Event-Date-GMT",
    "Event-Sequence", "Event-Calling-File", "Event-Calling-Function", "Event-Calling-Line-Number",
    "FreeSWITCH-Hostname", "FreeSWITCH-Switchname", "FreeSWITCH-IPv4", "FreeSWITCH-IPv6"}

#: channel data FreeSWITCH writes on every channel event: the latest event has it already
_CHANNEL_DATA = ("Channel-", "Caller-", "variable_", "Answer-State", "Presence-")
_merge_memo: dict[str, bool] = {}


def _mergeable(key: str) -> bool:
    """Whether a value read from an earlier event is worth keeping in the merged view."""
    try:
        return _merge_memo[key]
    except KeyError:
        if len(_merge_memo) > 4096:
            _merge_memo.clear()
        keep = _merge_memo[key] = key not in _NOT_MERGED and not key.startswith(_CHANNEL_DATA)
        return keep


_MISSING: Any = object()


class Session:
    """One call leg. ``sess["Header"]`` reads the header from its latest event that has it.

    A session keeps its latest event, the identity headers of its first event
    (:data:`IDENTITY_HEADERS`) and a merged view of the header values read from its
    earlier events, not its raw event history: a few KiB per session. Whoever needs the
    history asks for it (:attr:`events`, :meth:`keep_events`).
    """

    # slots keep a session small (issue 16); ``__dict__`` (made on first use) still takes
    # whatever attributes apps or subclasses add
    __slots__ = ("uuid", "client", "_latest", "_merged", "_identity", "_history", "vars",
                 "call", "app", "answered", "hungup", "destroyed", "lost", "cause", "times",
                 "job", "_waiters", "_tasks", "__dict__", "__weakref__")

    def __init__(self, event: Event, client: Client, keep_events: int = 0) -> None:
        self.uuid: str = _intern(event.uuid or "")
        self.client = client
        self._latest = event
        get = event.get
        # the first event's identity headers, in IDENTITY_HEADERS order (None: absent)
        # (interned: the same uuid, profile or switch id is one string, not one per header)
        self._identity: tuple[str | None, ...] = tuple(
            None if (v := get(k)) is None else _intern(v) for k in IDENTITY_HEADERS)
        self._merged: dict[str, str] | None = None  # made on first use
        self._history: deque[Event] | None = (
            deque([event], maxlen=keep_events) if keep_events > 0 else None)
        self.vars: dict[str, Any] = {}
        self.call: Call | None = None
        self.app: AppVersion | None = None
        self.answered = False
        self.hungup = False
        self.destroyed = False
        self.lost = False  # gone while the connection was down (see EventListener.resync)
        self.cause: str | None = None
        self.times: dict[str, float | None] = dict.fromkeys(
            ("create", "answer", "req_originate", "originate", "hangup", "destroy"))
        self.times["create"] = _event_time(event)
        self.job: Job | None = None
        self._waiters: dict[str, list[asyncio.Future[Event]]] = {}
        self._tasks: set[asyncio.Task[Any]] | None = None

    # -- headers ------------------------------------------------------------------------
    def get(self, key: str, default: Any = None) -> Any:
        """The value of ``key``: from the latest event, else (when :meth:`keep_events`
        kept them) the latest kept event that has it, else the value last read from an
        earlier event, else the first event's identity headers. Without kept events it
        is O(1) in the number of events seen, found or not."""
        value = self._latest.get(key, _MISSING)
        if value is not _MISSING:
            return value
        history = self._history
        if history is not None:  # kept on request: searched as before (latest first)
            for i in range(len(history) - 2, -1, -1):
                value = history[i].get(key, _MISSING)
                if value is not _MISSING:
                    return value
        merged = self._merged
        if merged is not None:
            value = merged.get(key, _MISSING)
            if value is not _MISSING:
                return value
        i = _IDENTITY_INDEX.get(key)
        if i is not None:
            value = self._identity[i]
            if value is not None:
                return value
        return default

    @property
    def identity(self) -> dict[str, str]:
        """The identity headers (:data:`IDENTITY_HEADERS`) of the first event, those it had."""
        return {k: v for k, v in zip(IDENTITY_HEADERS, self._identity, strict=True)
                if v is not None}

    @property
    def tasks(self) -> set[asyncio.Task[Any]]:
        """The app coroutines running for this session."""
        if self._tasks is None:
            self._tasks = set()
        return self._tasks

    @property
    def event(self) -> Event:
        """The latest event of this session."""
        return self._latest

    @property
    def events(self) -> deque[Event]:
        """The session's recent events, oldest first: the last :meth:`keep_events` ones if
        history was asked for (per listener or per app), else only the latest event."""
        if self._history is not None:
            return self._history
        return deque((self._latest,), maxlen=1)

    def keep_events(self, count: int) -> None:
        """Keep the last ``count`` events in :attr:`events` from now on (0: only the
        latest, the default). Each kept event costs its size (~5 KiB of text)."""
        if count <= 0:
            self._history = None
        elif self._history is None or self._history.maxlen != count:
            old = self._history if self._history is not None else (self._latest,)
            self._history = deque(old, maxlen=count)

    def __getitem__(self, key: str) -> str:
        value = self.get(key)
        if value is None:
            raise KeyError(f"{key!r} not found for session {self.uuid}")
        return value

    def __contains__(self, key: str) -> bool:
        return self.get(key) is not None

    @property
    def direction(self) -> str:
        return self.get("Call-Direction", "")

    def is_inbound(self) -> bool:
        return self.direction == "inbound"

    def is_outbound(self) -> bool:
        return self.direction == "outbound"

    @property
    def appname(self) -> str | None:
        """The app id this session was tagged with (see ``Client.originate``)."""
        return self.app.app_id if self.app is not None else None

    @property
    def host(self) -> str:
        return self.client.host

    @property
    def log(self) -> logging.LoggerAdapter:
        """A logger for app code (``sess.log.info(...)``); its lines name this session."""
        return _SessionLog(log, {"uuid": self.uuid})

    @property
    def time(self) -> float:
        """Time of the latest event."""
        return _event_time(self._latest)

    @property
    def uptime(self) -> float:
        """Seconds from creation to the latest event (or hangup)."""
        return self.time - (self.times["create"] or self.time)

    @property
    def duration(self) -> float:
        end = self.times["hangup"] or time.time()
        return end - (self.times["create"] or end)

    @property
    def answer_time(self) -> float | None:
        return self.times["answer"]

    @property
    def hangup_time(self) -> float | None:
        return self.times["hangup"]

    def __repr__(self) -> str:
        state = "hungup" if self.hungup else ("answered" if self.answered else "ringing")
        return f"<Session {self.uuid} {self.direction} {state}>"

    # -- events --------------------------------------------------------------------------
    def update(self, event: Event) -> None:
        """Add an event (the listener calls this) and wake those waiting for it."""
        read = self._latest.decoded()  # the header values read from it: merged view keeps them
        if read:
            merged = self._merged
            memo = _merge_memo
            for key in read:
                keep = memo.get(key)
                if keep is None:
                    keep = _mergeable(key)
                if keep:
                    if merged is None:
                        merged = self._merged = {}
                    merged[key] = read[key]
        self._latest = event
        if self._history is not None:
            self._history.append(event)
        if not self._waiters:
            return
        waiters = self._waiters.pop(event.key, None)
        if waiters:
            for fut in waiters:
                if not fut.done():
                    fut.set_result(event)

    def _end(self, why: str | None = None) -> None:
        """The session is gone: fail whoever still waits for one of its events."""
        self.destroyed = True
        waiting, self._waiters = self._waiters, {}
        for name, futs in waiting.items():
            for fut in futs:
                if not fut.done():
                    fut.set_exception(SessionEnded(
                        f"session {self.uuid} ended ({why or self.cause or 'gone'}) while "
                        f"waiting for {name}"))
                    fut.exception()

    def _waiter(self, name: str) -> asyncio.Future[Event]:
        """A future for the next ``name`` event, registered now (none can slip by)."""
        fut: asyncio.Future[Event] = asyncio.get_running_loop().create_future()
        if self.destroyed:
            fut.set_exception(SessionEnded(f"session {self.uuid} has ended; no {name} "
                                           "will come"))
            fut.exception()
            return fut
        futs = self._waiters.setdefault(name, [])
        futs.append(fut)
        fut.add_done_callback(lambda f: f.cancelled() and f in futs and futs.remove(f))
        self.client.listener.require(name)
        return fut

    def recv(self, name: str, timeout: float | None = DEFAULT_WAIT) -> Awaitable[Event]:
        """Awaitable: the next ``name`` event of this session.

        The wait starts at the call (an event arriving before the ``await`` is not
        missed). Raises :class:`SessionEnded` if the session ends first, and
        :class:`asyncio.TimeoutError` after ``timeout`` seconds (None: no limit). A
        connection not subscribed to ``name`` is subscribed first.
        """
        fut = self._waiter(name)
        if timeout is None:
            return fut
        return self._wait(fut, name, timeout)

    async def _wait(self, fut: asyncio.Future[Event], name: str, timeout: float) -> Event:
        try:
            return await asyncio.wait_for(fut, timeout)
        except asyncio.TimeoutError:
            raise asyncio.TimeoutError(f"no {name} for session {self.uuid} within "
                                       f"{timeout:g} s") from None

    async def poll(self, events: Iterable[str], timeout: float | None = DEFAULT_WAIT,
                   return_when: str = asyncio.FIRST_COMPLETED
                   ) -> tuple[list[Event], list[str]]:
        """Wait for any (or all) of ``events``; returns (received events, names pending)."""
        names = list(events)
        futs = {asyncio.ensure_future(self.recv(n, None)): n for n in names}
        done, pending = await asyncio.wait(futs, timeout=timeout, return_when=return_when)
        for fut in pending:
            fut.cancel()
        if not done:
            raise asyncio.TimeoutError(f"none of {names} came for session {self.uuid} "
                                       f"within {timeout} s")
        received = [f.result() for f in done if not f.exception()]
        if not received:  # the session ended (SessionEnded) before any came
            raise next(iter(done)).exception()  # type: ignore[misc]
        return received, [futs[f] for f in pending]

    # -- control -------------------------------------------------------------------------
    def _run(self, label: str, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        task.label = (  # type: ignore[attr-defined]
            f"app {self.appname}: session {self.uuid}: {label}")
        task.add_done_callback(_log_failure)
        return task

    async def _api(self, command: str) -> str:
        return await self.client.api(command, check=True)

    def api(self, command: str) -> asyncio.Task[str]:
        """Run an api command; ``{uuid}`` in it is this session's uuid."""
        return self._run(command, self._api(command.format(uuid=self.uuid)))

    def execute(self, app: str, arg: str = "", params: str = "", loops: int = 1,
                event_lock: bool = False) -> asyncio.Task[str]:
        """Execute dialplan application ``app`` on this session (``sendmsg``)."""
        arg = f"{params}{arg}" if params else arg
        return self._run(f"{app} {arg}", self.client.connection.execute(
            app, arg, self.uuid, loops=loops if loops != 1 else None, event_lock=event_lock))

    def answer(self, timeout: float | None = DEFAULT_WAIT) -> asyncio.Task[Any]:
        """Answer; awaiting it resumes once CHANNEL_ANSWER arrives (its event, or None if
        already answered). Raises :class:`SessionEnded` if the session ends first."""
        waiter = None if self.answered else self._waiter("CHANNEL_ANSWER")

        async def go() -> Any:
            try:
                await self._api(f"uuid_answer {self.uuid}")
                if waiter is None:
                    return None
                return await self._wait(waiter, "CHANNEL_ANSWER", timeout) if timeout \
                    else await waiter
            finally:
                if waiter is not None:
                    waiter.cancel()
        return self._run("answer", go())

    def hangup(self, cause: str = "NORMAL_CLEARING", timeout: float | None = DEFAULT_WAIT
               ) -> asyncio.Task[Any]:
        """Hang up with ``cause``; awaiting it resumes once the session is gone (its
        CHANNEL_DESTROY). A session already hung up is not hung up again."""
        if self.destroyed:
            return self._run("hangup", _nothing())
        waiter = self._waiter("CHANNEL_DESTROY")
        hungup = self.hungup

        async def go() -> Any:
            try:
                if not hungup:
                    try:
                        await self._api(f"uuid_kill {self.uuid} {cause}")
                    except ApiError as exc:  # gone meanwhile (its events may lag)?
                        if not (self.hungup or "No such channel" in str(exc)):
                            raise
                try:
                    return await (self._wait(waiter, "CHANNEL_DESTROY", timeout) if timeout
                                  else waiter)
                except SessionEnded:
                    return None
            finally:
                waiter.cancel()
        return self._run("hangup", go())

    def sched_hangup(self, timeout: float, cause: str = "NORMAL_CLEARING") -> asyncio.TimerHandle:
        """Hang up ``timeout`` seconds from now (cancel with the returned handle)."""
        loop = asyncio.get_running_loop()
        return loop.call_later(timeout, lambda: self.hungup or self.hangup(cause))

    def park(self) -> asyncio.Task[Any]:
        return self._run("park", self._api(f"uuid_park {self.uuid}"))

    def playback(self, args: str | Iterable[str], start_sample: int | None = None,
                 endless: bool = False, leg: str = "aleg", params: dict | None = None
                 ) -> asyncio.Task[str]:
        """Play a file or stream (several joined with ``;``) on this session."""
        app = "endless_playback" if endless else "playback"
        paths = [args] if isinstance(args, str) else list(args)
        varset = "{" + ",".join(f"{k}={v}" for k, v in params.items()) + "}" if params else ""
        arg = ";".join(paths) + (f"@@{start_sample}" if start_sample else "")
        if varset and paths and paths[0].startswith("tone_stream://") and "loops" in params:
            arg = f"{arg};loops={params['loops']}"
            varset = ""
        return self.execute(app, arg, params=varset)

    def start_record(self, path: str, rx_only: bool = False, stereo: bool = False,
                     rate: int = 16000) -> asyncio.Task[str]:
        """``record_session`` to ``path`` (on the switch's file system)."""
        return self.execute("record_session", path)

    def stop_record(self, path: str = "all", delay: float = 0) -> asyncio.Task[Any]:
        if delay:
            async def later() -> Any:
                await asyncio.sleep(delay)
                return await self.execute("stop_record_session", path)
            return self._run("stop_record", later())
        return self.execute("stop_record_session", path)

    def record(self, action: str, path: str, rx_only: bool = True) -> asyncio.Task[str]:
        """``uuid_record <uuid> <action> <path>``."""
        return self._run("record", self._api(f"uuid_record {self.uuid} {action} {path}"))

    def echo(self) -> asyncio.Task[str]:
        return self.execute("echo")

    def broadcast(self, path: str, leg: str = "aleg") -> asyncio.Task[str]:
        return self._run("broadcast", self._api(f"uuid_broadcast {self.uuid} {path} {leg}"))

    def bridge(self, dest_url: str | None = None, profile: str | None = None,
               gateway: str | None = None, proxy: str | None = None,
               params: dict | None = None) -> asyncio.Task[str]:
        """Bridge to ``dest_url`` (default: this call's SIP Request-URI) over ``profile``."""
        varset = ",".join(f"{k}={v}" for k, v in (params or {}).items())
        if gateway:
            profile = f"gateway/{gateway}"
        profile = profile or self.get("variable_sofia_profile_name", "external")
        dest = dest_url or self.get("variable_sip_req_uri")
        path = f";fs_path=sip:{proxy}" if proxy else ""
        url = "{" + varset + "}" + f"sofia/{profile}/{dest}{path}"
        return self.execute("bridge", url)

    def breakmedia(self) -> asyncio.Task[str]:
        """Stop what is playing (``uuid_break``)."""
        return self._run("breakmedia", self.client.api(f"uuid_break {self.uuid}"))

    def mute(self, direction: str = "write", level: int = 1) -> asyncio.Task[str]:
        return self._run("mute", self.client.api(
            f"uuid_audio {self.uuid} start {direction} mute {1 if level else 0}"))

    def unmute(self, direction: str = "write") -> asyncio.Task[str]:
        return self.mute(direction, level=0)

    def respond(self, response: str | int) -> asyncio.Task[str]:
        return self.execute("respond", str(response))

    def deflect(self, uri: str) -> asyncio.Task[str]:
        return self.execute("deflect", uri)

    def send_dtmf(self, sequence: str, duration: str | int = "w") -> asyncio.Task[str]:
        return self._run("send_dtmf", self.client.api(
            f"uuid_send_dtmf {self.uuid} {sequence}@{duration}"))

    def sched_dtmf(self, delay: float, sequence: str, tone_duration: int | None = None
                   ) -> asyncio.TimerHandle:
        loop = asyncio.get_running_loop()
        return loop.call_later(delay, lambda: self.hungup or self.send_dtmf(
            sequence, tone_duration if tone_duration is not None else "w"))

    def setvar(self, var: str, value: Any) -> asyncio.Task[str]:
        return self._run("setvar", self._api(f"uuid_setvar {self.uuid} {var} {value}"))

    def setvars(self, params: dict[str, Any]) -> asyncio.Task[str]:
        pairs = ";".join(f"{k}={v}" for k, v in params.items())
        return self._run("setvars", self._api(f"uuid_setvar_multi {self.uuid} {pairs}"))

    def unsetvar(self, var: str) -> asyncio.Task[str]:
        return self._run("unsetvar", self._api(f"uuid_setvar {self.uuid} {var}"))

    async def getvar(self, var: str) -> str | None:
        value = await self.client.api(f"uuid_getvar {self.uuid} {var}")
        return None if value in ("_undef_", "") or value.startswith("-ERR") else value
