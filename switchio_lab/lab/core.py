"""The :class:`Lab`: a switch (embedded or real) and its clients, run from a notebook.

>>> lab = await Lab.start()                 # doctest: +SKIP
>>> await lab.api("status")                 # {"127.0.0.1": "UP ...", "127.0.0.2": "UP ..."}
>>> job = await lab.originate(app_id="greeter")
>>> lab.sessions_frame                      # the live legs, as a DataFrame
>>> lab.events.for_call(job.sess_uuid)      # what happened on the wire for that call
>>> await lab.stop()

Which switch: ``Lab.start(nodes=2)`` starts an embedded cluster of two nodes inside this
process; ``Lab.start(hosts=["10.0.0.5:8021"], password=...)`` connects to real
FreeSWITCH hosts; ``Lab.start()`` reads ``$SWITCHIO_LAB_HOSTS`` (comma-separated
``host[:port]``, password from ``$SWITCHIO_LAB_PASSWORD``, default ``ClueCon``) and
starts two embedded nodes when it is not set. The code after that line is the same.

One loop: everything -- the clients, their listeners and apps, the embedded nodes, a
small lag probe -- runs as tasks on the loop that started the lab (in Jupyter, the
kernel's own). They make progress whenever that loop runs: while a cell ``await``\\ s,
while a blocking call of :mod:`switchio_lab.sync` waits, and between cells. A cell that
computes synchronously for a long time pauses all of them; the events meanwhile wait
in the socket buffers (and in FreeSWITCH's queue), and are read when the cell ends. The
lab warns (:class:`LoopLagWarning`, once per episode) when that made events wait.
"""

from __future__ import annotations

import asyncio
import html
import inspect
import logging
import os
import time
import warnings
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..core import Client, Job, Service, Session, sync
from ..core.listener import AppFailure, AppVersion
from .eventlog import DEFAULT_MAXLEN, EventLog

if TYPE_CHECKING:
    import pandas

    from ..apps import AppManager
    from ..core.pool import NodePool
    from ..sim import Cluster, Node

log = logging.getLogger("switchio_lab.lab")

HOSTS_ENV = "SWITCHIO_LAB_HOSTS"
PASSWORD_ENV = "SWITCHIO_LAB_PASSWORD"
DEFAULT_NODES = 2

_labs: list[Lab] = []  # started and not stopped, oldest first


def current() -> Lab:
    """The most recently started :class:`Lab` that is still running."""
    if not _labs:
        raise LookupError("no Lab is running: start one with `lab = await Lab.start()` "
                          "(or `Lab.start_sync()`)")
    return _labs[-1]


class LoopLagWarning(RuntimeWarning):
    """The event loop was blocked long enough for events to wait (see :class:`Lab`)."""


@dataclass
class LagEpisode:
    """One time the loop fell behind: when, by how much, what waited meanwhile."""

    time: float
    lag: float  #: seconds the probe woke late
    events: int  #: events read from the tick before the lag to the tick after it
    dropped: int  #: events EventStream queues dropped meanwhile


@dataclass
class LoadReport:
    """What :meth:`Lab.load_app` did: an app loaded, or swapped in for another.

    ``old`` holds the replaced :class:`~switchio_lab.handlers.AppVersion` per node: calls
    that started on it finish on it (:attr:`old_calls`, live, falls to 0 as they end).
    """

    app_id: str
    name: str
    nodes: list[str]
    new: dict[str, AppVersion]
    old: dict[str, AppVersion] = field(default_factory=dict)
    lab: Lab | None = field(default=None, repr=False)

    @property
    def replaced(self) -> bool:
        return bool(self.old)

    @property
    def old_calls(self) -> int:
        """Calls (across nodes: a call with a leg on each node counts once) still running
        the replaced version."""
        if not self.old or self.lab is None:
            return sum(v.calls for v in self.old.values())
        keys: set[str] = set()
        for client in self.lab.clients:
            old = self.old.get(self.lab.pool.name_of(client))
            if old is None:
                continue
            keys.update(k for k, call in client.listener.calls.items() if call.app is old)
        return len(keys)

    def __repr__(self) -> str:
        return f"<LoadReport {self}>"

    @property
    def errors(self) -> list[tuple[str, AppFailure]]:
        """``(node, failure)`` for the exceptions this app raised since (most recent last)."""
        return self.lab.errors_of(self.app_id) if self.lab is not None else []

    def _ipython_display_(self) -> None:
        """Shown as the cell's output, which then collects the app's errors as they come."""
        from IPython.display import display

        handle = display(_ReportView(self), display_id=True)
        if handle is not None and self.lab is not None:
            handle.report = self
            self.lab._error_views.setdefault(self.app_id, []).append(handle)

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td>{html.escape(node)}</td><td>{html.escape(v.name)} v{v.version}</td>"
            f"<td>{html.escape(f'{o.name} v{o.version}') if (o := self.old.get(node)) else ''}"
            f"</td></tr>" for node, v in self.new.items())
        head = "<tr><th>node</th><th>running</th><th>replaced</th></tr>"
        return (f"<div><b>{html.escape(str(self))}</b>"
                f"<table>{head}{rows}</table></div>")

    def __str__(self) -> str:
        where = ", ".join(self.nodes)
        if not self.replaced:
            return f"loaded {self.name} as {self.app_id!r} on {where}"
        olds = sorted({f"{v.name} v{v.version}" for v in self.old.values()})
        news = sorted({f"{v.name} v{v.version}" for v in self.new.values()})
        n = self.old_calls
        return (f"replaced {self.app_id!r}: {' / '.join(olds)} -> {' / '.join(news)} on "
                f"{where}; {n} call(s) still run the old version")


#: how many app exceptions a lab keeps (its count goes on)
APP_ERRORS_KEPT = 200
#: how many of them a LoadReport's output shows
ERRORS_SHOWN = 10


class _ReportView:
    """A LoadReport and the errors its app raised since, as text and HTML."""

    def __init__(self, report: LoadReport) -> None:
        self.report = report

    def _since(self) -> list[tuple[str, AppFailure]]:
        new = set(self.report.new.values())
        return [(n, f) for n, f in self.report.errors
                if f.version is None or any(v.version == f.version for v in new)]

    def __repr__(self) -> str:
        lines = [str(self.report)]
        errors = self._since()
        if errors:
            lines.append(f"{len(errors)} app error(s):")
            lines += [f"  [{n}] {f}" for n, f in errors[-ERRORS_SHOWN:]]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        out = self.report._repr_html_()
        errors = self._since()
        if not errors:
            return out
        rows = "".join(
            f"<tr><td>{html.escape(n)}</td><td>{html.escape(f.event)}</td>"
            f"<td>{html.escape(f'{f.kind} {f.func}')}</td><td><code>"
            f"{html.escape(f.uuid or '')}</code></td><td><b>"
            f"{html.escape(type(f.error).__name__)}</b>: {html.escape(str(f.error))}</td></tr>"
            for n, f in errors[-ERRORS_SHOWN:])
        head = ("<tr><th>node</th><th>event</th><th>where</th><th>session</th>"
                "<th>error</th></tr>")
        return (f"{out}<div class='switchio-lab-app-errors' style='color:#b00020'>"
                f"<b>{len(errors)} error(s) in {html.escape(self.report.app_id)}</b> "
                f"(last {min(len(errors), ERRORS_SHOWN)}; tracebacks in the log)"
                f"<table>{head}{rows}</table></div>")


class Lab:
    """An embedded cluster or real FreeSWITCH hosts, one client per node (see module doc).

    Start it with :meth:`start` (awaitable) or :meth:`start_sync`. Attributes:

    - :attr:`service`, :attr:`pool`, :attr:`clients` (one per node, pool order),
      :attr:`apps` (the :class:`~switchio_lab.apps.AppManager`);
    - :attr:`nodes` (the embedded nodes, or None against real hosts), :attr:`cluster`;
    - :attr:`events`: an :class:`~switchio_lab.lab.eventlog.EventLog` of every event,
      command and reply of every client;
    - :attr:`sessions`, :attr:`calls`, :attr:`sessions_frame`: the live state across
      nodes; :attr:`lag_episodes`: the times the loop fell behind; :attr:`loads`: a
      :class:`LoadReport` per :meth:`load_app` (``%%app`` included), oldest first.
    """

    def __init__(self, service: Service, *, cluster: Cluster | None = None,
                 log_size: int = DEFAULT_MAXLEN, lag_warning: float | None = 1.0,
                 lag_interval: float = 0.1, sip_port: int = 5080,
                 sip_profile: str = "external") -> None:
        self.service = service
        self.cluster = cluster
        self.sip_port = sip_port
        self.sip_profile = sip_profile
        self.lag_warning = lag_warning
        self.lag_interval = lag_interval
        self.lag_episodes: list[LagEpisode] = []
        self.loads: list[LoadReport] = []  # every load_app (and %%app), oldest first
        first = service.pool.clients[0]
        self.events = EventLog(log_size, call_headers=first.listener.call_tracking_headers)
        self._detach = [self.events.attach(c, service.pool.name_of(c)) for c in self.clients]
        #: the exceptions the lab's apps raised (most recent last, at most APP_ERRORS_KEPT)
        self.app_errors: deque[tuple[str, AppFailure]] = deque(maxlen=APP_ERRORS_KEPT)
        self.app_error_count = 0  #: every app exception, ever (the deque keeps the last)
        self._error_views: dict[str, list[Any]] = {}  # app id -> display handles
        self._detach += [c.listener.on_app_error(self._error_sink(service.pool.name_of(c)))
                         for c in self.clients]
        self._cleanups: list[Callable[[], Any]] = []
        self._cdr: Any = None  # the CDR observer of load_cdr()
        self._probe: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.started = time.time()
        self.running = False

    # -- starting and stopping ------------------------------------------------------------
    @classmethod
    async def start(cls, nodes: int | None = None, *, hosts: str | Iterable[Any] | None = None,
                    password: str | None = None, port: int = 8021, sip_port: int = 5080,
                    events: Iterable[str] = (), log_size: int = DEFAULT_MAXLEN,
                    lag_warning: float | None = 1.0, lag_interval: float = 0.1,
                    node_options: dict[str, Any] | None = None, **client_kwargs: Any) -> Lab:
        """Start a lab on the running loop and connect a client to every node.

        ``nodes``: start that many embedded nodes (on 127.0.0.1, 127.0.0.2, ..., free ESL
        ports; ``node_options`` go to each :class:`~switchio_lab.sim.NodeConfig`).
        ``hosts``: real FreeSWITCH hosts instead (``"host[:port]"`` strings, a
        comma-separated string, ``(host, port)`` pairs), with ``password`` (default
        ``$SWITCHIO_LAB_PASSWORD`` or ``ClueCon``) and ``port`` where a host names none;
        ``sip_port`` is their SIP profile's port, the default destination of
        :meth:`originate`. Neither: ``$SWITCHIO_LAB_HOSTS`` if set, else
        ``nodes=2``. ``events``: subscribe every client to these too (e.g. ``"ALL"``).
        ``lag_warning``: warn when the loop wakes this many seconds late and events
        waited meanwhile (None: no probe). Other keywords go to each
        :class:`~switchio_lab.api.Client`.
        """
        if nodes is None and hosts is None:
            env = os.environ.get(HOSTS_ENV, "").strip()
            if env:
                hosts = env
        cluster = None
        if hosts is not None:
            if nodes is not None:
                raise ValueError("give nodes (embedded) or hosts (real FreeSWITCH), not both")
            contacts = [h.strip() for h in hosts.split(",") if h.strip()] \
                if isinstance(hosts, str) else list(hosts)
            if not contacts:
                raise ValueError(f"no hosts given ({hosts!r})")
            if password is None:
                password = os.environ.get(PASSWORD_ENV, "ClueCon")
            service = Service(contacts, port=port, auth=password, **client_kwargs)
        else:
            from ..sim import Cluster

            n = DEFAULT_NODES if nodes is None else int(nodes)
            if n < 1:
                raise ValueError(f"a lab needs at least one node (nodes={nodes})")
            cluster = await Cluster.start(n, esl_port=0, **(node_options or {}))
            try:
                service = Service(cluster, **client_kwargs)
            except BaseException:
                await cluster.stop()
                raise
        lab = cls(service, cluster=cluster, log_size=log_size, lag_warning=lag_warning,
                  lag_interval=lag_interval, sip_port=sip_port)
        try:
            await service.run()
            if events:
                await lab.subscribe(*events)
        except BaseException:
            await lab.stop()
            raise
        lab._loop = asyncio.get_running_loop()
        lab.running = True
        if lag_warning is not None:
            lab._probe = lab._loop.create_task(lab._watch())
        _labs.append(lab)
        log.info("lab started: %s", lab.status())
        return lab

    @classmethod
    def start_sync(cls, *args: Any, **kwargs: Any) -> Lab:
        """:meth:`start`, blocking (see :mod:`switchio_lab.sync`).

        In a notebook it runs on the kernel's loop; in a script or a plain test, on the
        thread's own loop (which only runs during blocking calls, so the lag probe is off
        there unless ``lag_warning`` is given).
        """
        if sync._running_loop() is None:
            kwargs.setdefault("lag_warning", None)
        return sync.run(cls.start(*args, **kwargs))

    async def stop(self) -> None:
        """Stop the probe and what was added (:meth:`on_stop`), disconnect, stop the
        embedded nodes. Idempotent."""
        self.running = False
        if self in _labs:
            _labs.remove(self)
        probe, self._probe = self._probe, None
        if probe is not None:
            probe.cancel()
        cleanups, self._cleanups = self._cleanups, []
        for cleanup in reversed(cleanups):
            try:
                result = cleanup()
                if inspect.isawaitable(result):
                    await result
            except Exception:
                log.exception("lab: cleanup %r failed", cleanup)
        try:
            await self.service.stop()
            for client in self.clients:  # never connected, or the service was not running
                if client.connection.connected:
                    await client.disconnect()
        finally:
            if self.cluster is not None:
                await self.cluster.stop()
        for detach in self._detach:
            detach()
        self._detach = []

    def stop_sync(self) -> None:
        """:meth:`stop`, blocking."""
        sync.run(self.stop())

    def on_stop(self, cleanup: Callable[[], Awaitable[Any] | Any]) -> Callable[[], Any]:
        """Run ``cleanup()`` (awaited if it returns an awaitable) when the lab stops, before
        the clients disconnect; the last added runs first. For things built on the lab
        (an originator, a CDR writer, widgets)."""
        self._cleanups.append(cleanup)
        return cleanup

    async def __aenter__(self) -> Lab:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- what it is made of -----------------------------------------------------------------
    @property
    def pool(self) -> NodePool:
        return self.service.pool

    @property
    def clients(self) -> list[Client]:
        return self.service.pool.clients

    @property
    def apps(self) -> AppManager:
        return self.service.apps

    @property
    def nodes(self) -> list[Node] | None:
        """The embedded nodes (None when the lab talks to real FreeSWITCH hosts)."""
        return list(self.cluster.nodes) if self.cluster is not None else None

    @property
    def embedded(self) -> bool:
        return self.cluster is not None

    @property
    def names(self) -> list[str]:
        """Each node's name (its host, or host:port where hosts repeat), pool order."""
        return self.pool.names

    def client(self, node: int | str | Client | None = None) -> Client:
        """The client of ``node`` (an index, a name, a Client); None: the next, round-robin."""
        if node is None:
            return self.pool.next()
        if isinstance(node, Client):
            if node not in self.pool:
                raise KeyError(f"{node!r} is not a client of this lab ({self.names})")
            return node
        return self.pool[node]

    def address(self, node: int | str | Client, user: str = "lab") -> str:
        """``user@host:port`` of ``node``'s SIP profile (the embedded node's external
        profile, or ``host:sip_port`` of a real one)."""
        client = self.client(node)
        i = self.clients.index(client)
        if self.cluster is not None:
            return f"{user}@{self.cluster.nodes[i].sip_address(self.sip_profile)}"
        host = f"[{client.host}]" if ":" in client.host else client.host
        return f"{user}@{host}:{self.sip_port}"

    # -- live state ------------------------------------------------------------------------------
    @property
    def sessions(self) -> dict[str, Session]:
        """Every live session (leg) on every node, by uuid."""
        out: dict[str, Session] = {}
        for client in self.clients:
            out.update(client.listener.sessions)
        return out

    @property
    def calls(self) -> dict[str, list[Session]]:
        """Every live call by its call uuid, with its legs on every node (in order)."""
        out: dict[str, list[Session]] = {}
        for client in self.clients:
            for key, call in client.listener.calls.items():
                out.setdefault(key, []).extend(call.sessions)
        for legs in out.values():
            legs.sort(key=lambda s: s.times["create"] or 0.0)
        return out

    async def load_cdr(self, sink: Any = None) -> Any:
        """Measure every call: one :class:`~switchio_lab.apps.cdr.CDR` observer shared
        by all nodes (rows also go to ``sink``, e.g. ``RunWriter.table("cdr")``); then
        :attr:`cdr` is the CDR DataFrame at any time, while calls go on."""
        from ..apps.cdr import CDR

        cdr = CDR()
        for client in self.clients:
            await client.load_app(cdr, "cdr", replace=True, observe=True, sink=sink)
        self._cdr = cdr
        return cdr

    @property
    def cdr(self) -> pandas.DataFrame:
        """The CDR rows so far, as a typed DataFrame (empty before :meth:`load_cdr`)."""
        from ..measure import cdr_frame

        return cdr_frame(self._cdr if self._cdr is not None else [])

    @property
    def sessions_frame(self) -> pandas.DataFrame:
        """The live sessions as a DataFrame: uuid, node, call, direction, state (the call
        state: RINGING, ACTIVE, ...), answered, app (its id), app_version (the version
        of the app its call is bound to, numbered per node), age (seconds since it was
        created), vars (the session's ``vars`` dict)."""
        return self.sessions_table()

    def sessions_table(self, *var_names: str) -> pandas.DataFrame:
        """:attr:`sessions_frame`, with a column per name in ``var_names`` taken from each
        session's ``vars`` (e.g. a version tag an app records)."""
        import pandas

        now = time.time()
        rows = []
        for client in self.clients:
            node = self.pool.name_of(client)
            for sess in list(client.listener.sessions.values()):
                version = sess.app
                created = sess.times["create"] or now
                row = {"uuid": sess.uuid, "node": node,
                       "call": sess.call.uuid if sess.call is not None else None,
                       "direction": sess.direction,
                       "state": _call_state(sess),
                       "answered": sess.answered,
                       "app": version.app_id if version is not None else None,
                       "app_version": version.version if version is not None else None,
                       "age": round(max(0.0, now - created), 3),
                       "vars": dict(sess.vars)}
                for name in var_names:
                    row[name] = sess.vars.get(name)
                rows.append(row)
        columns = ["uuid", "node", "call", "direction", "state", "answered", "app",
                   "app_version", "age", "vars", *var_names]
        return pandas.DataFrame(rows, columns=columns)

    def counts(self) -> dict[str, int]:
        """sessions, calls (across nodes), apps, events recorded."""
        return {"sessions": sum(c.listener.count_sessions() for c in self.clients),
                "calls": len(self.calls), "apps": len(self.apps.apps),
                "events": sum(c.connection.stats.events_in for c in self.clients)}

    def _error_sink(self, node: str) -> Callable[[AppFailure], None]:
        return lambda failure: self._app_failed(node, failure)

    def _app_failed(self, node: str, failure: AppFailure) -> None:
        """An app raised: keep it, and show it where the app was loaded (its LoadReport's
        output, when one was displayed)."""
        self.app_errors.append((node, failure))
        self.app_error_count += 1
        for handle in self._error_views.get(failure.app_id or "", ()):
            try:
                handle.update(_ReportView(handle.report))
            except Exception:  # a closed comm, no display: the error was logged anyway
                log.debug("lab: could not update the error view of %s", failure.app_id,
                          exc_info=True)

    def errors_of(self, app_id: str | None = None) -> list[tuple[str, AppFailure]]:
        """``(node, failure)`` for the exceptions the lab's apps raised (or app ``app_id``'s)."""
        return [(n, f) for n, f in self.app_errors if app_id is None or f.app_id == app_id]

    def status(self) -> str:
        """One line: the nodes, sessions, calls, apps and event rate."""
        kind = "embedded" if self.embedded else "FreeSWITCH"
        n = self.counts()
        apps = ", ".join(self.apps.apps) or "none"
        state = "" if self.running else " [stopped]"
        return (f"Lab{state}: {len(self.clients)} {kind} node(s) ({', '.join(self.names)}) | "
                f"sessions {n['sessions']} | calls {n['calls']} | apps: {apps} | "
                f"events {n['events']} ({self.events.rate():.1f}/s)"
                + (f" | app errors {self.app_error_count} (last: {self.app_errors[-1][1]})"
                   if self.app_error_count else ""))

    def __repr__(self) -> str:
        return f"<{self.status()}>"

    # -- commands --------------------------------------------------------------------------------
    async def api(self, cmd: str, node: int | str | Client | None = None, *,
                  check: bool = False) -> dict[str, str]:
        """``api <cmd>`` on every node (or on ``node``): ``{node name: reply}``."""
        clients = self.clients if node is None else [self.client(node)]
        replies = await asyncio.gather(*(c.api(cmd, check=check) for c in clients))
        return {self.pool.name_of(c): r for c, r in zip(clients, replies, strict=True)}

    async def subscribe(self, *names: str) -> None:
        """Subscribe every client to more events (e.g. ``"ALL"``), e.g. for the event log."""
        await asyncio.gather(*(c.connection.subscribe(*names) for c in self.clients))

    async def originate(self, dest: str | None = None, *, app_id: str | None = None,
                        node: int | str | Client | None = None, user: str = "lab",
                        **kwargs: Any) -> Job:
        """Place a call from ``node`` (default: the next, round-robin); returns its Job.

        ``dest``: ``user@host:port`` or a full dial string; a bare user, or None, calls
        the *next* node's SIP address (with one node, itself), see :meth:`address`.
        ``app_id``: the app that handles both legs (it must be loaded). The call's uuid,
        also the uuid of its first leg, is ``job.sess_uuid``. Other keywords go to
        :meth:`Client.originate <switchio_lab.api.Client.originate>`.
        """
        client = self.client(node)
        if dest is None or ("@" not in dest and "/" not in dest):
            i = self.clients.index(client)
            peer = self.clients[(i + 1) % len(self.clients)]
            dest = self.address(peer, dest or user)
        job = await client.originate(dest, app_id=app_id, **kwargs)
        assert isinstance(job, Job)
        return job

    async def hupall(self, timeout: float | None = 5.0) -> None:
        """Hang up every call on every node; wait up to ``timeout`` for them to go."""
        await asyncio.gather(*(c.hupall(timeout=timeout) for c in self.clients))

    async def wait(self, predicate: Callable[[], Any], timeout: float = 5.0,
                   interval: float = 0.01) -> None:
        """Wait until ``predicate()`` is true (the loop runs meanwhile), at most ``timeout``
        seconds (then :class:`TimeoutError`)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate():
            if loop.time() > deadline:
                raise TimeoutError(f"{getattr(predicate, '__name__', predicate)} not true "
                                   f"within {timeout:g} s")
            await asyncio.sleep(interval)

    # -- apps ------------------------------------------------------------------------------------
    async def load_app(self, ns: Any, app_id: str | None = None, *, replace: bool = True,
                       **prepost_kwargs: Any) -> LoadReport:
        """Load ``ns`` on every node under ``app_id`` (default: its name), hot-swapping
        the app loaded under that id (unless ``replace=False``); see :class:`LoadReport`.
        """
        name = getattr(ns, "__name__", None) or type(ns).__name__
        app_id = app_id or name
        before = {self.pool.name_of(c): c.listener.apps.get(app_id) for c in self.clients}
        await self.apps.load_app(ns, app_id, replace=replace, **prepost_kwargs)
        new = {self.pool.name_of(c): c.listener.apps[app_id] for c in self.clients}
        old = {n: v for n, v in before.items() if v is not None and v is not new[n]}
        report = LoadReport(app_id, name, list(new), new, old, lab=self)
        self.loads.append(report)
        return report

    async def unload_app(self, app_id: str) -> None:
        """Unload ``app_id`` from every node (its calls finish on it)."""
        await self.apps.unload_app(app_id)

    # -- falling behind -------------------------------------------------------------------------
    def _events_in(self) -> tuple[int, int]:
        stats = [c.connection.stats for c in self.clients]
        return sum(s.events_in for s in stats), sum(s.dropped for s in stats)

    async def _watch(self) -> None:
        """The lag probe: wake every ``lag_interval`` and see how late that was.

        A late wake-up starts an *episode*; at the next tick (once the backlog was read)
        the lab warns, once, if events waited meanwhile. The episode ends at the first
        tick on time. Events dropped by EventStream queues are reported the same way.
        """
        loop = asyncio.get_running_loop()
        interval = self.lag_interval
        threshold = self.lag_warning or 0.0
        last_events, last_dropped = self._events_in()
        pending: tuple[float, int, int] | None = None
        in_episode = False
        while True:
            start = loop.time()
            await asyncio.sleep(interval)
            lag = loop.time() - start - interval
            late = lag >= threshold
            events, dropped = self._events_in()
            if pending is not None:
                lag0, base_events, base_dropped = pending
                pending = None
                self._behind(lag0, events - base_events, dropped - base_dropped)
            elif not in_episode and late:
                pending = (lag, last_events, last_dropped)
                in_episode = True
            elif not in_episode and dropped > last_dropped:
                in_episode = True
                self._behind(lag, events - last_events, dropped - last_dropped)
            elif in_episode and not late and dropped == last_dropped:
                in_episode = False
            last_events, last_dropped = events, dropped

    def _behind(self, lag: float, events: int, dropped: int) -> None:
        if not events and not dropped:
            return  # late, but nothing waited: the client did not fall behind
        self.lag_episodes.append(LagEpisode(time.time(), lag, events, dropped))
        lost = f", and {dropped} event(s) were dropped by full event queues" if dropped else ""
        warnings.warn(
            f"switchio-lab: the event loop was blocked for {lag:.2f} s (a long synchronous "
            f"cell or callback?) and {events} event(s) waited to be read meanwhile{lost}. "
            "Events are only read while the loop runs: await (e.g. `await asyncio.sleep()`) "
            "rather than block, and keep blocking work short while calls run.",
            LoopLagWarning, stacklevel=1)


def _call_state(sess: Session) -> str:
    """The leg's call state (DOWN, RINGING, EARLY, ACTIVE, HELD, HANGUP), from what the
    listener tracked (the latest event's ``Channel-Call-State`` can lag: a CHANNEL_ANSWER
    still says RINGING, the CHANNEL_CALLSTATE that follows it says ACTIVE)."""
    state = sess.get("Channel-Call-State", "")
    if sess.hungup:
        return "HANGUP"
    if sess.answered and state not in ("ACTIVE", "HELD"):
        return "ACTIVE"
    return state


__all__ = ["HOSTS_ENV", "PASSWORD_ENV", "LagEpisode", "Lab", "LoadReport", "LoopLagWarning",
           "current"]
