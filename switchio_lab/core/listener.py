"""The event listener: session, call and job tracking, and dispatch to apps.

Every event goes first to the listener's handlers (the defaults track sessions, calls
and jobs; apps may add ``@handler`` functions), then to the ``@callback`` and
``@coroutine`` functions of the app the session belongs to. A session belongs to the
app whose id is found in its app-id headers (the ``switchio_app`` channel variable, or
the ``X-switchio_app`` SIP header on the far leg), else to ``default``.

Hot-swap: each call is bound to the app *version* that was current when its first leg
appeared, so calls in progress finish on the code that started them (every event of the
call, CHANNEL_DESTROY included, goes to that version); a replaced version's teardown runs
once its last call ends, after that call's last event was dispatched.

Legs are grouped into calls by the call tracking header (the ``switchio_call`` channel
variable, or the ``X-switchio_call`` SIP header that carries it to the far leg).

Reconnects: the listener hears its connection's state (``Client`` registers
:meth:`EventListener.on_connection_state` with ``connection.on_state``). Events sent
while the connection was down are lost, so on ``reconnected`` the listener
re-synchronises with the switch (:meth:`EventListener.resync`) from
``api show channels as json``: sessions tracked when the connection dropped that still
exist are kept and refreshed, those gone are marked lost (``hungup``, ``lost``, waiters
failed with :class:`~switchio_lab.models.SessionEnded`) and forgotten, and channels
created meanwhile are adopted (from ``uuid_dump``). A lost session gets none of its
remaining events (its CHANNEL_HANGUP_COMPLETE and CHANNEL_DESTROY never come): whoever
accounts for every leg (the CDR app) hears of it from :meth:`EventListener.on_lost`.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..connection import ESLError, Job, is_error
from ..esl import Event
from . import marks
from .call import Call
from .errors import SessionEnded
from .session import DEFAULT_WAIT, Session

if TYPE_CHECKING:
    from .client import Client

log = logging.getLogger("switchio_lab")

#: events the listener needs for its own bookkeeping
TRACKING_EVENTS = ("CHANNEL_CREATE", "CHANNEL_ORIGINATE", "CHANNEL_ANSWER", "CHANNEL_HANGUP",
                   "CHANNEL_HANGUP_COMPLETE", "CHANNEL_DESTROY", "BACKGROUND_JOB")


#: how many times one distinct app error is logged with its traceback
ERRORS_LOGGED = 3


@dataclass
class AppFailure:
    """An exception an app's handler, callback or coroutine raised (see
    :meth:`EventListener.on_app_error`): which app, what, on which event, for which call."""

    app_id: str | None
    version: int | None
    kind: str  #: "handler", "callback" or "coroutine"
    func: str
    event: str
    uuid: str | None  #: the session's uuid (None for an event not about a session)
    call: str | None  #: the call's key, when the session belongs to one
    error: BaseException
    time: float = field(default_factory=time.time)

    def __str__(self) -> str:
        about = f" for session {self.uuid}" if self.uuid else ""
        call = f" (call {self.call})" if self.call and self.call != self.uuid else ""
        who = "listener" if self.app_id is None else f"app {self.app_id}"
        return (f"{who}: {self.kind} {self.func} failed on {self.event}{about}"
                f"{call}: {type(self.error).__name__}: {self.error}")


@dataclass(eq=False)
class AppVersion:
    """One loaded instance of an app under an id (a new one per load or swap)."""

    app_id: str
    ns: Any
    version: int
    callbacks: dict[str, list[tuple[str, Callable[..., Any]]]] = field(default_factory=dict)
    handlers: dict[str, list[Callable[..., Any]]] = field(default_factory=dict)
    teardown: Callable[[], Any] | None = None
    calls: int = 0  # calls bound to this version still up
    retired: bool = False
    observer: bool = False
    events_seen: int = 0

    @property
    def name(self) -> str:
        ns = self.ns
        return getattr(ns, "__name__", None) or type(ns).__name__

    def finish_if_idle(self) -> None:
        if self.retired and self.calls <= 0 and self.teardown is not None:
            teardown, self.teardown = self.teardown, None
            try:
                teardown()
            except Exception:
                log.exception("app %s v%d: teardown failed", self.app_id, self.version)


class EventListener:
    """Tracks sessions, calls and jobs of one client and dispatches events to apps."""

    def __init__(self, client: Client, call_tracking_header: str = "variable_switchio_call",
                 app_id_headers: Iterable[str] = ("variable_switchio_app",
                                                   "variable_sip_h_X-switchio_app")) -> None:
        self.client = client
        self.call_tracking_header = call_tracking_header  # sets call_tracking_headers
        self.app_id_headers = list(app_id_headers)
        #: events each new session keeps in ``Session.events`` (0: only its latest); an
        #: app asks for more with a ``keep_events`` attribute
        self.keep_events = 0
        self.sessions: dict[str, Session] = {}
        self.calls: dict[str, Call] = {}
        self.bg_jobs: dict[str, Job] = {}
        self.apps: dict[str, AppVersion] = {}
        self.observers: tuple[AppVersion, ...] = ()  # apps that see every session
        self._app_handled: frozenset[str] = frozenset()  # events an app has handlers for
        self.failed_jobs: Counter[str] = Counter()
        self.hangup_causes: Counter[str] = Counter()  #: per leg, at its CHANNEL_HANGUP
        self.total_answered_sessions = 0
        #: answered legs by ``Call-Direction`` (``outbound`` = calls this side placed)
        self.answered_sessions: Counter[str] = Counter()
        #: legs this switch originated (their CHANNEL_ORIGINATE), i.e. calls offered
        self.originated_sessions = 0
        self.total_sessions = 0
        self.total_calls = 0
        self.total_jobs = 0
        self.events_seen = 0
        self.handler_errors = 0
        self._error_observers: list[Callable[[AppFailure], Any]] = []
        self._error_seen: dict[tuple[Any, ...], int] = {}
        self.lost_sessions = 0  # sessions found gone when re-synchronising
        self.lost_jobs = 0  # jobs whose result a dropped connection took away
        self.resyncs = 0
        self.resync_task: asyncio.Task[dict[str, list[str]]] | None = None
        self.tasks: set[asyncio.Task[Any]] = set()
        self._versions = 0
        self._stale: set[str] = set()  # sessions tracked when the connection dropped
        self._gone: set[str] | None = None  # untracked uuids destroyed while resyncing
        self._expected_jobs: dict[str, Event | None] = {}  # bgapi sent, Job not yet made
        self._job_sessions: dict[str, Job] = {}  # session uuid -> job that will create it
        self._finishing: list[AppVersion] = []  # retired versions whose last call ended
        self._subscribing: set[str] = set()
        self._lost_callbacks: list[Callable[[Session, str], Any]] = []
        self._handlers: dict[str, list[Callable[[Event], Any]]] = {
            "CHANNEL_CREATE": [self._handle_create],
            "CHANNEL_ORIGINATE": [self._handle_originate],
            "CHANNEL_ANSWER": [self._handle_answer],
            "CHANNEL_HANGUP": [self._handle_hangup],
            "CHANNEL_DESTROY": [self._handle_destroy],
            "BACKGROUND_JOB": [self._handle_bj],
        }

    @property
    def call_tracking_header(self) -> str:
        """The header that groups legs into calls; setting it takes effect at the next
        event (switchio read it per event)."""
        return self._call_tracking_header

    @call_tracking_header.setter
    def call_tracking_header(self, value: str) -> None:
        self._call_tracking_header = value
        #: the header, then the SIP X-header that carries its variable to the far leg
        self.call_tracking_headers = _with_xheader(value)

    # -- counts ---------------------------------------------------------------------------
    def count_sessions(self) -> int:
        return len(self.sessions)

    def count_calls(self) -> int:
        return len(self.calls)

    def count_jobs(self) -> int:
        """Background jobs whose result has not come yet."""
        return len(self.bg_jobs)

    def count_failed(self) -> int:
        return sum(self.failed_jobs.values())

    # -- subscriptions ----------------------------------------------------------------------
    def events_needed(self) -> set[str]:
        names = set(TRACKING_EVENTS)
        for version in self.apps.values():
            names.update(marks.subscriptions(version.ns))
        return names

    def require(self, name: str) -> None:
        """Make sure the connection receives ``name`` events (subscribing if needed)."""
        conn = self.client.connection
        if name in self._subscribing or not conn.connected or conn.is_subscribed(name):
            return
        self._subscribing.add(name)

        async def subscribe() -> None:
            try:
                await conn.subscribe(*event_words([name]))
            except ESLError as exc:
                log.warning("listener: could not subscribe to %s: %s", name, exc)
            finally:
                self._subscribing.discard(name)
        self._spawn(subscribe())

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    # -- apps ----------------------------------------------------------------------------
    def add_app(self, app_id: str, ns: Any, teardown: Callable[[], Any] | None = None,
                observe: bool = False) -> tuple[AppVersion, AppVersion | None]:
        """Register ``ns`` under ``app_id``; returns (new version, the one it replaced).

        An *observer* (``observe=True``, e.g. the CDR) is never chosen by app id: it sees
        the events of every session, after the session's own app.
        """
        self._versions += 1
        version = AppVersion(app_id, ns, self._versions, teardown=teardown)
        version.observer = observe
        for ev, kind, func in marks.get_callbacks(ns):
            if kind == "handler":
                version.handlers.setdefault(ev, []).append(func)
            else:
                version.callbacks.setdefault(ev, []).append((kind, func))
        old = self.apps.get(app_id)
        self.apps[app_id] = version  # swapped between two events: dispatch is synchronous
        self._apps_changed()
        if old is not None:
            old.retired = True
            old.finish_if_idle()
        return version, old

    def remove_app(self, app_id: str) -> AppVersion | None:
        version = self.apps.pop(app_id, None)
        self._apps_changed()
        if version is not None:
            version.retired = True
            version.finish_if_idle()
        return version

    def _apps_changed(self) -> None:
        self.observers = tuple(v for v in self.apps.values() if v.observer)
        self._app_handled = frozenset(name for v in self.apps.values() if not v.observer
                                      for name in v.handlers)

    def app_for(self, event: Event) -> AppVersion | None:
        """The current version of the app ``event`` is tagged with (else ``default``)."""
        apps = self.apps
        if not apps:
            return None
        for header in self.app_id_headers:
            app_id = event.get(header)
            if app_id is not None and app_id in apps and not apps[app_id].observer:
                return apps[app_id]
        default = apps.get("default")
        return default if default is not None and not default.observer else None

    # -- dispatch -------------------------------------------------------------------------
    def on_app_error(self, callback: Callable[[AppFailure], Any]) -> Callable[[], None]:
        """Call ``callback(failure)`` for every exception an app raises here (it is also
        logged with its traceback); returns a function that stops it."""
        self._error_observers.append(callback)

        def stop() -> None:
            if callback in self._error_observers:
                self._error_observers.remove(callback)
        return stop

    def _app_failed(self, version: AppVersion | None, kind: str, func: Any, name: str,
                    model: Any, exc: BaseException) -> None:
        self.handler_errors += 1
        uuid = getattr(model, "uuid", None)
        call = getattr(getattr(model, "call", None), "uuid", None)
        attr = "__name__" if kind == "handler" else "__qualname__"
        failure = AppFailure(getattr(version, "app_id", None), getattr(version, "version", None),
                             kind, getattr(func, attr, repr(func)), name, uuid, call, exc)
        # the same error (app, function, event, exception type and text) again and again
        # (a bug hit by every call of a load test): its first few with their traceback,
        # then a count -- at least once per distinct error, never a flood
        key = (failure.app_id, failure.kind, failure.func, name, type(exc).__name__,
               str(exc)[:200])
        seen = self._error_seen.get(key, 0) + 1
        if len(self._error_seen) < 10_000 or key in self._error_seen:
            self._error_seen[key] = seen
        if seen <= ERRORS_LOGGED:
            log.error("%s", failure, exc_info=exc)
            if seen == ERRORS_LOGGED:
                log.error("%s: this error is not logged again (listener.handler_errors "
                          "counts every error; on_app_error() sees each)", failure.func)
        else:
            log.debug("%s (again: %d times)", failure, seen)
        for observer in list(self._error_observers):
            try:
                observer(failure)
            except Exception:
                log.exception("listener: app-error observer %r failed", observer)

    def dispatch(self, event: Event) -> None:
        """Handle one event: handlers, then the app callbacks/coroutines.

        A session's events go to the app version its call is bound to; other events
        (jobs, events of untracked channels) to the current app their headers name.
        """
        self.events_seen += 1
        name = event.key
        model: Any = None
        handlers = self._handlers.get(name)
        if handlers is not None:
            for handler in handlers:
                try:
                    result = handler(event)
                except Exception as exc:
                    self._app_failed(None, "handler", handler, name, None, exc)
                    continue
                if result and len(result) > 1 and result[1] is not None:
                    model = result[1]
        if model is None:
            uuid = event.uuid
            if uuid:
                model = self.sessions.get(uuid)
                if model is not None:
                    model.update(event)
        if isinstance(model, Session):
            version = model.app
        elif model is None and name not in self._app_handled:
            version = None  # no app handler for it and no model for callbacks: nothing runs
        else:
            version = self.app_for(event)
        if version is not None:
            self._to_app(version, name, event, model)
        for observer in self.observers:
            if observer is not version:
                self._to_app(observer, name, event, model)
        if self._finishing:
            self._finish_versions()

    def _to_app(self, version: AppVersion, name: str, event: Event, model: Any,
                run_handlers: bool = True) -> None:
        handlers = version.handlers.get(name) if run_handlers else None
        if handlers:
            for handler in handlers:
                try:
                    result = handler(event)
                except Exception as exc:
                    self._app_failed(version, "handler", handler, name, model, exc)
                    continue
                if result and len(result) > 1 and result[1] is not None:
                    model = result[1]
        callbacks = version.callbacks.get(name)
        if not callbacks or model is None:
            return
        version.events_seen += 1
        for kind, func in callbacks:
            if kind == "coroutine":
                task = self._spawn(self._run_coroutine(version, func, model, name))
                if isinstance(model, Session):
                    model.tasks.add(task)
                    task.add_done_callback(model.tasks.discard)
            else:
                try:
                    func(model)
                except Exception as exc:
                    self._app_failed(version, "callback", func, name, model, exc)

    async def _run_coroutine(self, version: AppVersion, func: Callable[..., Any], model: Any,
                             name: str) -> None:
        try:
            await func(model)
        except asyncio.CancelledError:
            raise
        except SessionEnded as exc:
            # switchio cancelled a coroutine whose session went away while it waited:
            # the task ends cancelled, not as an app error (the coroutine may still catch
            # SessionEnded to clean up, knowing why)
            log.debug("app %s: coroutine %s on %s for session %s cancelled: %s",
                      version.app_id, func.__qualname__, name, getattr(model, "uuid", model),
                      exc)
            raise asyncio.CancelledError(str(exc)) from None
        except Exception as exc:
            self._app_failed(version, "coroutine", func, name, model, exc)

    def _finish_versions(self) -> None:
        """Tear down the retired versions whose last call ended (after its last event)."""
        finishing, self._finishing = self._finishing, []
        for version in finishing:
            version.finish_if_idle()

    # -- default handlers -------------------------------------------------------------------
    def _session(self, event: Event) -> Session:
        uuid = event.uuid or ""
        sess = self.sessions.get(uuid)
        if sess is None:
            sess = self._track(uuid, event)
        return sess

    def _track(self, uuid: str, event: Event) -> Session:
        """Start tracking a session: join (or start) its call, bind it to an app version."""
        sess = self.sessions[uuid] = Session(event, self.client)
        self.total_sessions += 1
        call_key = None
        for header in self.call_tracking_headers:
            call_key = event.get(header)
            if call_key:
                break
        call_key = call_key or uuid
        call = self.calls.get(call_key)
        if call is None:
            sess.app = self.app_for(event)
            call = self.calls[call_key] = Call(call_key, sess)
            self.total_calls += 1
            if call.app is not None:
                call.app.calls += 1
        else:
            call.append(sess)
            sess.app = call.app
        sess.call = call
        keep = max(self.keep_events, getattr(sess.app.ns, "keep_events", 0) or 0
                   if sess.app is not None else 0)
        if keep:
            sess.keep_events(keep)
        job = self._job_sessions.pop(uuid, None)
        if job is not None:
            job.session = sess
            sess.job = job
        return sess

    def _handle_create(self, event: Event) -> tuple[bool, Session]:
        return True, self._session(event)

    def _handle_originate(self, event: Event) -> tuple[bool, Session]:
        sess = self._session(event)
        sess.update(event)
        if sess.times.get("originate") is None:
            self.originated_sessions += 1
        sess.times["originate"] = sess.time
        return True, sess

    def _handle_answer(self, event: Event) -> tuple[bool, Session]:
        sess = self._session(event)
        sess.update(event)
        if not sess.answered:
            sess.times["answer"] = sess.time
            self._count_answer(sess)
        return True, sess

    def _count_answer(self, sess: Session) -> None:
        sess.answered = True
        self.total_answered_sessions += 1
        self.answered_sessions[sess.direction or "?"] += 1

    def _handle_hangup(self, event: Event) -> tuple[bool, Session]:
        sess = self._session(event)
        sess.update(event)
        sess.hungup = True
        sess.cause = event.get("Hangup-Cause")
        sess.times["hangup"] = sess.time
        if sess.cause:
            self.hangup_causes[sess.cause] += 1
        return True, sess

    def _handle_destroy(self, event: Event) -> tuple[bool, Session | None]:
        uuid = event.uuid or ""
        sess = self.sessions.get(uuid)
        if sess is None:
            if self._gone is not None:
                self._gone.add(uuid)
            return False, None
        sess.update(event)
        sess.times["destroy"] = sess.time
        self._forget(sess)
        return True, sess

    def _forget(self, sess: Session, why: str | None = None) -> None:
        """The session is gone: stop tracking it, and its call once every leg is gone."""
        self.sessions.pop(sess.uuid, None)
        sess.hungup = True
        sess._end(why)
        if sess.lost:
            self._tell_lost(sess, why or "lost")
        call = sess.call
        if call is not None and call.done and self.calls.get(call.uuid) is call:
            del self.calls[call.uuid]
            version = call.app
            if version is not None:
                version.calls -= 1
                if version.retired and version.calls <= 0:
                    self._finishing.append(version)

    # -- lost sessions ------------------------------------------------------------------------
    def on_lost(self, callback: Callable[[Session, str], Any]) -> Callable[[], None]:
        """Call ``callback(session, reason)`` for each session marked lost: gone while
        the connection was down (found by :meth:`resync`), or left when the connection
        closed for good. Such a session's remaining events (CHANNEL_HANGUP_COMPLETE,
        CHANNEL_DESTROY) never come; ``session.lost`` is set and its waiters have failed.
        Returns a function that removes the callback. Callbacks run inline; one that raises
        is logged and counted in :attr:`handler_errors`."""
        self._lost_callbacks.append(callback)

        def remove() -> None:
            if callback in self._lost_callbacks:
                self._lost_callbacks.remove(callback)
        return remove

    def _tell_lost(self, sess: Session, reason: str) -> None:
        for callback in list(self._lost_callbacks):
            try:
                callback(sess, reason)
            except Exception:
                self.handler_errors += 1
                log.exception("listener: lost-session callback %r failed for %s", callback,
                              sess.uuid)

    # -- jobs -------------------------------------------------------------------------------
    def _handle_bj(self, event: Event) -> tuple[bool, Job | None]:
        job_uuid = event.get("Job-UUID", "")
        job = self.bg_jobs.pop(job_uuid, None)
        if job is None:
            if job_uuid in self._expected_jobs:  # it came with the bgapi reply: keep it
                self._expected_jobs[job_uuid] = event
            return False, None
        self._job_done(job, event)
        return True, job

    def _job_done(self, job: Job, event: Event) -> None:
        if job.sess_uuid:
            self._job_sessions.pop(job.sess_uuid, None)
        body = event.body
        if body.startswith("-ERR"):
            self.failed_jobs[body[4:].strip() or "UNKNOWN"] += 1
        elif body.startswith("-USAGE"):
            self.failed_jobs["USAGE"] += 1

    def expect_job(self, job_uuid: str) -> None:
        """A bgapi with this Job-UUID is about to be sent (its result may beat its Job)."""
        self._expected_jobs[job_uuid] = None

    def forget_job(self, job_uuid: str) -> None:
        self._expected_jobs.pop(job_uuid, None)

    def register_job(self, job: Job) -> None:
        """Track ``job`` (and link the session it creates, ``job.sess_uuid``)."""
        self.total_jobs += 1
        early = self._expected_jobs.pop(job.uuid, None)
        if job.sess_uuid:
            sess = self.sessions.get(job.sess_uuid)
            if sess is not None:  # its CHANNEL_CREATE came with the bgapi reply
                job.session = sess
                sess.job = job
            elif early is None:
                self._job_sessions[job.sess_uuid] = job
        if early is not None:
            self._job_done(job, early)
            version = self.app_for(early)  # its callbacks missed it: the Job was not made
            if version is not None:
                self._to_app(version, "BACKGROUND_JOB", early, job, run_handlers=False)
        else:
            self.bg_jobs[job.uuid] = job

    # -- reconnects -------------------------------------------------------------------------
    def on_connection_state(self, state: str, conn: Any = None) -> None:
        """The connection's state callback (see ``Connection.on_state``).

        ``disconnected``: the sessions tracked now may end unseen, and the bgapi jobs in
        flight were failed by the connection (counted in :attr:`lost_jobs`);
        ``reconnected``: :meth:`resync` runs (its task is :attr:`resync_task`).
        """
        if state == "disconnected":
            self._stale.update(self.sessions)
            for job_uuid, job in list(self.bg_jobs.items()):
                if job.done():
                    del self.bg_jobs[job_uuid]
                    if job.sess_uuid:
                        self._job_sessions.pop(job.sess_uuid, None)
                    self.lost_jobs += 1
        elif state == "reconnected":
            self.resync_task = self._spawn(self.resync())
        elif state == "closed":  # for good: nothing more will come for any session
            for sess in list(self.sessions.values()):
                sess.lost = True
                self._forget(sess, "lost: the connection closed")
            self._finish_versions()

    async def resync(self) -> dict[str, list[str]]:
        """Re-synchronise the tracked sessions with the switch (after a reconnect).

        From ``api show channels as json``: each session tracked when the connection
        dropped that still exists is kept and refreshed from its row (a CHANNEL_DATA-like
        event with its state, call state and name is added; ``answered``/``hungup``
        updated); each one that is gone is marked lost (``hungup`` and ``lost`` set, its
        waiters failed with :class:`~switchio_lab.models.SessionEnded`) and forgotten,
        with its call once every leg is gone (so a retired app version may tear down).
        Channels the listener does not know (created while it was disconnected) are
        adopted from ``uuid_dump``, joining their call and app like a new session.
        Returns the uuids ``{"kept": [...], "lost": [...], "adopted": [...]}``; on
        failure (e.g. the connection dropped again) logs it and returns what was done,
        the rest is left to the next reconnect. :attr:`resyncs` counts the completed ones.
        """
        self._gone = gone = set()
        result: dict[str, list[str]] = {"kept": [], "lost": [], "adopted": []}
        try:
            # ~0.9 KB per channel: 50,000 channels is ~45 MB, past the 16 MiB frame cap
            text = await self.client.api("show channels as json", check=True,
                                         max_reply=RESYNC_MAX_REPLY)
            rows = {row["uuid"]: row for row in json.loads(text).get("rows") or ()
                    if row.get("uuid")}
            stale, self._stale = self._stale, set()
            for uuid in stale:
                sess = self.sessions.get(uuid)
                if sess is None:  # destroyed since the reconnect: its events said so
                    continue
                row = rows.get(uuid)
                if row is None:
                    sess.lost = True
                    self.lost_sessions += 1
                    self._forget(sess, "lost: it ended while the connection was down")
                    result["lost"].append(uuid)
                else:
                    self._refresh(sess, row)
                    result["kept"].append(uuid)
            self._finish_versions()
            for uuid in rows:
                if uuid in self.sessions or uuid in gone:
                    continue
                dump = await self.client.api(f"uuid_dump {uuid}")
                if is_error(dump) or uuid in self.sessions or uuid in gone:
                    continue  # gone meanwhile, or its events made it known
                sess = self._track(uuid, Event(dump.encode("utf-8")))
                _mark(sess, self, sess.get("Channel-Call-State"), sess.get("Channel-State"))
                result["adopted"].append(uuid)
        except (ESLError, ValueError, KeyError) as exc:
            # e.g. dropped again: the next reconnect re-synchronises what is left
            log.warning("listener: re-synchronising after the reconnect failed: %s", exc)
            return result
        finally:
            self._gone = None
        self.resyncs += 1
        log.info("listener: re-synchronised after a reconnect: %d session(s) kept, %d lost, "
                 "%d adopted", len(result["kept"]), len(result["lost"]), len(result["adopted"]))
        return result

    def _refresh(self, sess: Session, row: dict[str, Any]) -> None:
        headers = {header: row.get(col) for col, header in _ROW_HEADERS.items()}
        headers.update({"Event-Name": "CHANNEL_DATA", "Unique-ID": sess.uuid,
                        "Event-Date-Timestamp": str(int(time.time() * 1e6))})
        sess.update(Event.from_headers({k: v for k, v in headers.items() if v}))
        _mark(sess, self, row.get("callstate"), row.get("state"))

    def waitfor(self, sess: Session, varname: str, timeout: float | None = DEFAULT_WAIT
                ) -> asyncio.Future[Any]:
        """Awaitable: resolves when ``sess.vars[varname]`` becomes truthy (raises
        :class:`~switchio_lab.models.SessionEnded` if the session ends first, and
        :class:`asyncio.TimeoutError` after ``timeout`` seconds; None: no limit)."""
        async def poll() -> Any:
            while not sess.vars.get(varname):
                if sess.destroyed:
                    raise SessionEnded(f"session {sess.uuid} ended while waiting for "
                                       f"vars[{varname!r}]")
                await asyncio.sleep(0.01)
            return sess.vars[varname]
        return asyncio.ensure_future(asyncio.wait_for(poll(), timeout))


#: the cap on the ``show channels as json`` answer of a resync: ~280,000 channels
RESYNC_MAX_REPLY = 256 * 1024 * 1024

#: ``show channels`` columns -> the event headers they correspond to
_ROW_HEADERS = {"state": "Channel-State", "callstate": "Channel-Call-State",
                "name": "Channel-Name", "direction": "Call-Direction",
                "dest": "Caller-Destination-Number", "cid_name": "Caller-Caller-ID-Name",
                "cid_num": "Caller-Caller-ID-Number",
                "application": "variable_current_application",
                "application_data": "variable_current_application_data"}


def _mark(sess: Session, listener: EventListener, callstate: str | None,
          state: str | None) -> None:
    """Bring ``answered``/``hungup`` up to date from a channel's call state and state."""
    if callstate in ("ACTIVE", "HELD") and not sess.answered:
        sess.times["answer"] = time.time()
        listener._count_answer(sess)
    if callstate == "HANGUP" or state in ("CS_HANGUP", "CS_REPORTING", "CS_DESTROY"):
        sess.hungup = True


def event_words(names: Iterable[str]) -> list[str]:
    """Event names as ``event plain ...`` takes them: CUSTOM subclasses (``x::y``) last,
    after ``CUSTOM`` (FreeSWITCH reads every word after it as a subclass)."""
    names = list(names)
    subclasses = [n for n in names if "::" in n]
    if not subclasses:
        return names
    return [n for n in names if "::" not in n and n != "CUSTOM"] + ["CUSTOM", *subclasses]


def _with_xheader(header: str) -> list[str]:
    """``variable_x`` -> ``[variable_x, variable_sip_h_X-x]``."""
    if header.startswith("variable_") and not header.startswith("variable_sip_h_"):
        return [header, f"variable_sip_h_X-{header[len('variable_'):]}"]
    return [header]


def prepost_arguments(func: Callable[..., Any], available: dict[str, Any],
                      kwargs: dict[str, Any]) -> dict[str, Any]:
    """Fill ``func``'s arguments by name from ``available`` plus explicit ``kwargs``.

    Raises :class:`TypeError` naming the unknown keyword arguments, or the required
    arguments that nothing fills.
    """
    params = inspect.signature(func).parameters
    named = {n: p for n, p in params.items()
             if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    takes_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
    args: dict[str, Any] = {}
    for name in named:
        if name in kwargs:
            args[name] = kwargs[name]
        elif name in available:
            args[name] = available[name]
    unknown = sorted(set(kwargs) - set(named))
    if unknown and not takes_any:
        raise TypeError(f"prepost() got unknown argument(s) {unknown}; it takes "
                        f"{sorted(named)}")
    args.update({k: kwargs[k] for k in unknown})
    missing = sorted(n for n, p in named.items() if n not in args and p.default is p.empty)
    if missing:
        raise TypeError(f"prepost() needs argument(s) {missing}: pass them to load_app() as "
                        "keywords")
    return args
