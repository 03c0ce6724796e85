"""The event listener: session, call and job tracking, and dispatch to apps.

Every event goes first to the listener's handlers (the defaults track sessions, calls
and jobs; apps may add ``@handler`` functions), then to the ``@callback`` and
``@coroutine`` functions of the app the session belongs to. A session belongs to the
app whose id is found in its app-id headers (the ``switchio_app`` channel variable, or
the ``X-switchio_app`` SIP header on the far leg), else to ``default``.

Hot-swap: each call is bound to the app *version* that was current when its first leg
appeared, so calls in progress finish on the code that started them; a replaced
version's teardown runs once its last call ends.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import marks
from .esl import Event
from .models import Call, Job, Session

if TYPE_CHECKING:
    from .api import Client

log = logging.getLogger("switchio_lab")

#: events the listener needs for its own bookkeeping
TRACKING_EVENTS = ("CHANNEL_CREATE", "CHANNEL_ORIGINATE", "CHANNEL_ANSWER", "CHANNEL_HANGUP",
                   "CHANNEL_HANGUP_COMPLETE", "CHANNEL_DESTROY", "BACKGROUND_JOB")


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
        self.call_tracking_header = call_tracking_header
        self.app_id_headers = list(app_id_headers)
        self.sessions: dict[str, Session] = {}
        self.calls: dict[str, Call] = {}
        self.bg_jobs: dict[str, Job] = {}
        self.apps: dict[str, AppVersion] = {}
        self.failed_jobs: Counter[str] = Counter()
        self.hangup_causes: Counter[str] = Counter()
        self.total_answered_sessions = 0
        self.total_sessions = 0
        self.total_calls = 0
        self.total_jobs = 0
        self.events_seen = 0
        self.handler_errors = 0
        self.tasks: set[asyncio.Task[Any]] = set()
        self._versions = 0
        self._handlers: dict[str, list[Callable[[Event], Any]]] = {
            "CHANNEL_CREATE": [self._handle_create],
            "CHANNEL_ORIGINATE": [self._handle_originate],
            "CHANNEL_ANSWER": [self._handle_answer],
            "CHANNEL_HANGUP": [self._handle_hangup],
            "CHANNEL_DESTROY": [self._handle_destroy],
            "BACKGROUND_JOB": [self._handle_bj],
        }

    # -- counts ---------------------------------------------------------------------------
    def count_sessions(self) -> int:
        return len(self.sessions)

    def count_calls(self) -> int:
        return len(self.calls)

    def count_jobs(self) -> int:
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
        if conn.connected and not conn._subscribed(name):
            task = asyncio.ensure_future(conn.subscribe(name))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    # -- apps ----------------------------------------------------------------------------
    def add_app(self, app_id: str, ns: Any, teardown: Callable[[], Any] | None = None
                ) -> tuple[AppVersion, AppVersion | None]:
        """Register ``ns`` under ``app_id``; returns (new version, the one it replaced)."""
        self._versions += 1
        version = AppVersion(app_id, ns, self._versions, teardown=teardown)
        for ev, kind, func in marks.get_callbacks(ns):
            if kind == "handler":
                version.handlers.setdefault(ev, []).append(func)
            else:
                version.callbacks.setdefault(ev, []).append((kind, func))
        old = self.apps.get(app_id)
        self.apps[app_id] = version  # swapped between two events: dispatch is synchronous
        if old is not None:
            old.retired = True
            old.finish_if_idle()
        return version, old

    def remove_app(self, app_id: str) -> AppVersion | None:
        version = self.apps.pop(app_id, None)
        if version is not None:
            version.retired = True
            version.finish_if_idle()
        return version

    def app_for(self, event: Event) -> AppVersion | None:
        for header in self.app_id_headers:
            app_id = event.get(header)
            if app_id is not None and app_id in self.apps:
                return self.apps[app_id]
        return self.apps.get("default")

    # -- dispatch -------------------------------------------------------------------------
    def dispatch(self, event: Event) -> None:
        """Handle one event: handlers, then the session's app callbacks/coroutines."""
        self.events_seen += 1
        name = event.name
        model: Any = None
        consumed = False
        for handler in self._handlers.get(name, ()):
            try:
                result = handler(event)
            except Exception:
                self.handler_errors += 1
                log.exception("listener: handler %s failed on %s", handler.__name__, name)
                continue
            if result:
                consumed, model = bool(result[0]), result[1] if len(result) > 1 else None
        uuid = event.uuid
        sess = self.sessions.get(uuid) if uuid else None
        if sess is not None and name not in ("CHANNEL_CREATE",):
            if model is None:
                sess.update(event)
            model = sess
        version = sess.app if sess is not None else self.app_for(event)
        if version is None:
            return
        for handler in version.handlers.get(name, ()):
            try:
                result = handler(event)
            except Exception:
                self.handler_errors += 1
                log.exception("app %s: handler %s failed on %s", version.app_id,
                              handler.__name__, name)
                continue
            if result and len(result) > 1 and result[1] is not None:
                consumed, model = bool(result[0]), result[1]
        del consumed
        callbacks = version.callbacks.get(name)
        if not callbacks or model is None:
            return
        version.events_seen += 1
        for kind, func in callbacks:
            if kind == "coroutine":
                task = asyncio.ensure_future(self._run_coroutine(version, func, model, name))
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)
                if isinstance(model, Session):
                    model.tasks.add(task)
                    task.add_done_callback(model.tasks.discard)
            else:
                try:
                    func(model)
                except Exception:
                    self.handler_errors += 1
                    log.exception("app %s: callback %s failed on %s for session %s",
                                  version.app_id, func.__qualname__, name,
                                  getattr(model, "uuid", model))

    async def _run_coroutine(self, version: AppVersion, func: Callable[..., Any], model: Any,
                             name: str) -> None:
        try:
            await func(model)
        except asyncio.CancelledError:
            raise
        except Exception:
            self.handler_errors += 1
            log.exception("app %s: coroutine %s failed on %s for session %s",
                          version.app_id, func.__qualname__, name, getattr(model, "uuid", model))

    # -- default handlers -------------------------------------------------------------------
    def _session(self, event: Event) -> Session:
        uuid = event.uuid or ""
        sess = self.sessions.get(uuid)
        if sess is None:
            sess = self.sessions[uuid] = Session(event, self.client)
            self.total_sessions += 1
            call_key = event.get(self.call_tracking_header) or uuid
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
            for job in self.bg_jobs.values():
                if job.sess_uuid == uuid:
                    job.session = sess
                    sess.job = job
        return sess

    def _handle_create(self, event: Event) -> tuple[bool, Session]:
        return True, self._session(event)

    def _handle_originate(self, event: Event) -> tuple[bool, Session]:
        sess = self._session(event)
        sess.update(event)
        sess.times["originate"] = sess.time
        return True, sess

    def _handle_answer(self, event: Event) -> tuple[bool, Session]:
        sess = self._session(event)
        sess.update(event)
        if not sess.answered:
            sess.answered = True
            sess.times["answer"] = sess.time
            self.total_answered_sessions += 1
        return True, sess

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
        sess = self.sessions.pop(event.uuid or "", None)
        if sess is None:
            return False, None
        sess.update(event)
        sess.hungup = True
        sess.times["destroy"] = sess.time
        call = sess.call
        if call is not None and call.done is False:
            pass
        sess._end()
        if call is not None and all(s.destroyed for s in call.sessions):
            self.calls.pop(call.uuid, None)
            if call.app is not None:
                call.app.calls -= 1
                call.app.finish_if_idle()
        return True, sess

    def _handle_bj(self, event: Event) -> tuple[bool, Job | None]:
        job = self.bg_jobs.pop(event.get("Job-UUID", ""), None)
        if job is None:
            return False, None
        body = event.body
        if body.startswith("-ERR"):
            cause = body[4:].strip() or "UNKNOWN"
            self.failed_jobs[cause] += 1
        return True, job

    def register_job(self, job: Job) -> None:
        self.bg_jobs[job.uuid] = job
        self.total_jobs += 1

    def waitfor(self, sess: Session, varname: str, timeout: float | None = None
                ) -> asyncio.Future[Any]:
        """Awaitable: resolves when ``sess.vars[varname]`` becomes truthy."""
        async def poll() -> Any:
            while not sess.vars.get(varname):
                if sess.destroyed:
                    raise asyncio.CancelledError(f"session {sess.uuid} ended")
                await asyncio.sleep(0.01)
            return sess.vars[varname]
        return asyncio.ensure_future(asyncio.wait_for(poll(), timeout))


def prepost_arguments(func: Callable[..., Any], available: dict[str, Any],
                      kwargs: dict[str, Any]) -> dict[str, Any]:
    """Fill ``func``'s arguments by name from ``available`` plus explicit ``kwargs``."""
    params = inspect.signature(func).parameters
    args: dict[str, Any] = {}
    for name, param in params.items():
        if name in kwargs:
            args[name] = kwargs[name]
        elif name in available:
            args[name] = available[name]
        elif param.kind is param.VAR_KEYWORD:
            args.update({k: v for k, v in kwargs.items() if k not in params})
    unknown = set(kwargs) - set(params)
    if unknown and not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        raise TypeError(f"prepost of this app takes no argument(s) {sorted(unknown)}")
    return args
