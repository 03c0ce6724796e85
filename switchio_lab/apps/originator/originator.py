"""The Originator: an auto-dialer for load tests, on one node or a whole cluster.

It offers calls at a steady ``rate`` (calls/s), never holds more than ``limit`` calls at
once, hangs each call up ``duration`` seconds after it was offered, and stops after
``max_offered`` calls (or when told to). Settings may change while it runs and take
effect at once::

    orig = Originator(pool, dest_url="load@127.0.0.2:5080", rate=50, limit=500)
    await orig.load_app(TonePlay, weight=3)        # optional: apps picked per call
    orig.start()                                    # INITIAL -> ORIGINATING
    orig.rate = 80                                  # at once
    await orig.waitwhile(timeout=60)                # until stopped and every call ended
    orig.stats()                                    # offered, answered, failed, ...

or, connecting a :class:`~switchio_lab.service.Service` for you::

    orig = await get_originator(["127.0.0.1", "127.0.0.2"], dest_url=..., rate=20)

See ``docs/originator.rst`` for the accounting and the scheduling in full.
"""


from __future__ import annotations

import asyncio
import inspect
import itertools
import logging
import math
import random
import time
import uuid as uuidlib
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple

from ...connection.errors import ESLError
from ...core import Client, Service
from ...core.manager import AppManager
from ...core.pool import NodePool
from .accounting import CallRecord, OriginatorAccounting
from .calls import CANCEL_CAUSE, OriginatorCalls
from .scheduler import OriginatorScheduler
from .settings import OriginatorSettings, check_number
from .states import INITIAL, ORIGINATING, ORIGINATOR_VAR, STATES, STOPPED

log = logging.getLogger("switchio_lab")


class CallInfo(NamedTuple):
    """The call a per-call :class:`Change` is about."""

    uuid: str  #: the calling leg's uuid (``origination_uuid``), also the call's id
    node: str  #: the node it was placed on (its client's host)
    app_id: str | None
    offered: float  #: when it was offered (epoch seconds)
    destination: str | None  #: ``dest_url``
    #: for a ``failed`` or ``lost`` call: whether the switch made a leg of it that the
    #: listener saw (a CDR then has its row); False: no leg was ever seen
    has_leg: bool = True


class Change(NamedTuple):
    """What an :meth:`Originator.on_change` observer is told.

    ``kind`` is ``"state"`` (``name`` is ``"state"``), ``"setting"`` (``name`` is the
    setting) or ``"stat"`` (``name`` is ``offered``, ``answered``, ``failed``, ``lost``,
    ``completed`` or ``skipped``; ``old``/``new`` are the counts, and for ``failed`` and
    ``lost`` the total, with the cause in ``detail``; a ``skipped`` change is a call
    skipped because no node was connected, ``detail`` ``"disconnected"``). ``call`` is the
    :class:`CallInfo` of the call an ``offered``, ``answered``, ``failed``, ``lost`` or
    ``completed`` change is about (None when no observer needs it made).
    """

    owner: Originator
    kind: str
    name: str
    old: Any
    new: Any
    detail: Any = None
    call: CallInfo | None = None


class Originator(OriginatorSettings, OriginatorAccounting, OriginatorScheduler, OriginatorCalls):
    """An auto-dialer for load tests over a pool of nodes (see the module doc).

    ``target`` is a :class:`~switchio_lab.pool.NodePool`, a
    :class:`~switchio_lab.service.Service` (its pool), one
    :class:`~switchio_lab.api.Client` or several. Calls are spread over the pool's
    clients round-robin (disconnected ones are skipped), each placed with
    ``client.originate(dest_url, app_id=..., profile=..., proxy=...)``.

    **Settings** (attributes; change them while running, or several at once and
    atomically with :meth:`configure`; an invalid value raises :class:`ValueError` and
    leaves every setting as it was):

    - ``rate`` -- calls offered per second, over the whole pool (> 0);
    - ``limit`` -- most calls in progress at once (:attr:`concurrent`), an int >= 1.
      Lowering it while running takes no call down: no call is offered until the
      calls in progress have fallen below the new limit;
    - ``duration`` -- seconds from a call's offer to the hangup the Originator sends
      (``uuid_kill``); ``None`` (the default) derives it so that ``limit`` is reached in
      steady state: ``limit / rate + duration_offset``, recomputed when ``rate`` or
      ``limit`` change. ``math.inf``: never hang up (the far end or :meth:`hupall`
      does). Changing it re-times the hangups of the calls in progress;
    - ``duration_offset`` -- the margin of the derived duration (s, default 1.0);
    - ``max_offered`` -- stop (state ``STOPPED``) once that many calls were offered
      (an int >= 0, or ``math.inf``: no end);
    - ``dest_url``, ``profile``, ``proxy`` -- where calls go (see
      :meth:`Client.originate <switchio_lab.api.Client.originate>`);
    - ``apps`` -- ``{app_id: weight}``: each call's app id is drawn at random with these
      weights among apps loaded on every node (``{}``: no app id, the calls belong to
      the ``default`` app if any);
    - ``variables`` -- extra channel variables for every call.

    **States**: ``INITIAL`` --:meth:`start`--> ``ORIGINATING`` --:meth:`stop`,
    ``max_offered`` or :meth:`hupall`--> ``STOPPED`` --:meth:`start`--> ``ORIGINATING``
    ... Calls in progress when it stops go on until their ``duration``.

    **Accounting** (properties, and :meth:`stats`), per offered call:

    - :attr:`offered` -- calls the Originator placed: counted when it decides to place
      one, before the originate is sent;
    - :attr:`active` -- offered calls whose outcome is not known yet: the originate is
      in flight, the far end is ringing;
    - :attr:`answered` -- calls whose originate succeeded (``+OK``: the far end
      answered), *including* those that have ended since (:attr:`completed`);
    - :attr:`failed` -- a :class:`~collections.Counter` of the calls whose originate
      failed, by cause: the switch's ``-ERR <CAUSE>`` (``SWITCH_CONGESTION``,
      ``USER_BUSY``, ``NORMAL_TEMPORARY_FAILURE`` ...), or a client-side error
      (``APP_NOT_LOADED``, ``NOT_CONNECTED``, ``COMMAND_TIMEOUT`` ...);
      :attr:`failed_total` is their sum;
    - :attr:`lost` -- calls whose outcome the switch never told: the connection was lost
      with the originate in flight and the calling leg had not been seen answered (a
      switch crash, a dropped connection);
    - :attr:`up` -- answered calls whose originating leg still exists;
    - :attr:`completed` -- answered calls whose originating leg is gone
      (its CHANNEL_DESTROY was seen);
    - :attr:`concurrent` -- ``active + up``: the calls that count against ``limit``.

    At every moment (between two steps of the event loop)::

        offered == answered + failed_total + lost + active
        answered == up + completed
        concurrent == active + up <= limit   (unless limit was just lowered)

    A failed call frees its slot as soon as its failure is known and is never retried;
    failures never stall the schedule.

    **Scheduling**: one asyncio task offers the calls on an absolute schedule (call *n*
    is due at ``t0 + n / rate``; a rate change re-anchors it at the last offer), so the
    rate does not drift. A call due while ``limit`` calls are in progress waits for a
    slot. After a stall (a busy loop, a blocked notebook cell, the limit) the schedule
    catches up by at most ``max(max_lag * rate, max_burst)`` calls (:attr:`max_lag`,
    :attr:`max_burst`); the calls due before that are skipped, not made up, so a stall
    never turns into a bigger burst (``stats()["skipped"]`` counts them). Calls falling
    due while no node of the pool is connected are skipped too (never queued for the
    reconnect): ``stats()["skipped_disconnected"]`` counts those.
    """

    #: how far behind the schedule may fall and still be caught up: ``max_lag`` seconds
    #: or ``max_burst`` calls, whichever is longer; calls due before that are skipped
    #: (counted in ``stats()["skipped"]``), so a stall never causes a bigger burst
    max_lag = 0.05
    max_burst = 10

    def __init__(self, target: Any, *, rate: float = 30, limit: int = 1,
                 duration: float | None = None, duration_offset: float = 1.0,
                 max_offered: float = math.inf, dest_url: str | None = None,
                 profile: str = "external", proxy: str | None = None,
                 apps: Mapping[str, float] | None = None,
                 variables: Mapping[str, Any] | None = None,
                 seed: int | None = None) -> None:
        self.service = None
        self._own_service = False
        if isinstance(target, Service):
            self.service = target
            self.pool: NodePool = target.pool
            self.app_manager: AppManager = target.apps
        else:
            if isinstance(target, NodePool):
                self.pool = target
            elif isinstance(target, Client):
                self.pool = NodePool([target])
            elif isinstance(target, Iterable):
                self.pool = NodePool(list(target))
            else:
                raise TypeError(f"an Originator needs a NodePool, a Service or Client(s), not "
                                f"{target!r}")
            self.app_manager = AppManager(self.pool)
        if not len(self.pool):
            raise ValueError("an Originator needs at least one node (the pool is empty)")
        self.id = str(uuidlib.uuid4())
        self._random = random.Random(seed)
        self._state = INITIAL
        self._closed = False
        self._observers: list[tuple[Callable[[Change], Any], frozenset[str] | None]] = []
        # settings (validated all together)
        self._settings: dict[str, Any] = {}
        self._settings = self._validate(dict(
            rate=rate, limit=limit, duration=duration, duration_offset=duration_offset,
            max_offered=max_offered, dest_url=dest_url, profile=profile, proxy=proxy,
            apps=apps, variables=variables))
        self._app_ids: list[str | None] = []
        self._app_cum: list[float] = []
        self._set_weights(self._settings["apps"])
        # accounting
        self._offered = 0
        self._answered = 0
        self._completed = 0
        self._failed: Counter[str] = Counter()
        self._failed_total = 0
        self._lost = 0
        self._cancelled = 0  # hung up by hupall() before they were answered
        self._lost_after_answer = 0  # answered calls whose end was never seen
        self._active: dict[str, CallRecord] = {}
        self._up: dict[str, CallRecord] = {}
        self._by_app: Counter[str | None] = Counter()
        self._by_node: Counter[str] = Counter()
        self.peak_concurrent = 0
        self._recent: deque[float] = deque()  # offer times of the last second
        self._skipped = 0
        self._skipped_disconnected = 0  # of those, due while no node was connected
        self._disconnected_since: float | None = None
        self._started_at: float | None = None
        self._stopped_at: float | None = None
        # scheduling
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._run_id = 0
        self._waiter: asyncio.Future[None] | None = None
        self._next_due = 0.0
        self._last_offer: float | None = None
        self._node_index = 0
        self._helpers: set[asyncio.Task[Any]] = set()

    def __repr__(self) -> str:
        return (f"<Originator {self._state} nodes={self.pool.names} rate={self.rate:g} "
                f"limit={self.limit} duration={self.duration:g} offered={self._offered} "
                f"concurrent={self.concurrent}>")

    # -- observers ------------------------------------------------------------------------
    def on_change(self, callback: Callable[[Change], Any],
                  kinds: Iterable[str] | None = None) -> Callable[[], None]:
        """Call ``callback(change)`` (a :class:`Change`) on every change of state,
        setting or counter (``kinds``: any of ``"state"``, ``"setting"``, ``"stat"``;
        None: all). Returns a function that unsubscribes it.

        Callbacks run synchronously, on the event loop, possibly hundreds of times a
        second under load: keep them cheap (throttle any display). An exception in one
        is logged and never disturbs the Originator.
        """
        wanted = frozenset(kinds) if kinds is not None else None
        if wanted is not None and not wanted <= {"state", "setting", "stat"}:
            raise ValueError(f"kinds must be among 'state', 'setting', 'stat', not "
                             f"{sorted(wanted)}")
        entry = (callback, wanted)
        self._observers.append(entry)

        def unsubscribe() -> None:
            if entry in self._observers:
                self._observers.remove(entry)
        return unsubscribe

    def _notify(self, kind: str, name: str, old: Any, new: Any, detail: Any = None,
                rec: CallRecord | None = None, has_leg: bool = True) -> None:
        if not self._observers:
            return
        call = None
        if rec is not None:
            loop = self._loop
            ago = loop.time() - rec.offered_at if loop is not None else 0.0
            call = CallInfo(rec.uuid, rec.client.host, rec.app_id, time.time() - ago,
                            self._settings["dest_url"], has_leg)
        change = Change(self, kind, name, old, new, detail, call)
        for callback, wanted in list(self._observers):
            if wanted is not None and kind not in wanted:
                continue
            try:
                callback(change)
            except Exception:
                log.exception("originator: observer %r failed on %s", callback, change[1:])

    # -- state ----------------------------------------------------------------------------
    @property
    def state(self) -> str:
        """``INITIAL``, ``ORIGINATING`` or ``STOPPED``."""
        return self._state

    def check_state(self, state: str) -> bool:
        return self._state == state

    def stopped(self) -> bool:
        return self._state == STOPPED

    def _set_state(self, state: str) -> None:
        old = self._state
        if old == state:
            return
        self._state = state
        if self._loop is not None:
            if state == ORIGINATING:
                self._stopped_at = None
            elif state == STOPPED:
                self._stopped_at = self._loop.time()
        log.info("originator: %s -> %s (offered %d, %d in progress)", old, state,
                 self._offered, self.concurrent)
        self._notify("state", "state", old, state)

    def start(self) -> None:
        """Start offering calls (``INITIAL``/``STOPPED`` -> ``ORIGINATING``).

        Needs a running event loop (call it from a coroutine or a notebook cell),
        ``dest_url`` set, the ``apps`` still loaded on every node, and ``offered`` below
        ``max_offered``. Idempotent while originating.
        """
        if self._closed:
            raise RuntimeError("this Originator was shut down; make a new one")
        if self._state == ORIGINATING:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise RuntimeError("Originator.start() needs a running event loop: call it from "
                               "a coroutine or a notebook cell") from None
        if self._loop is not None and self._loop is not loop:
            raise RuntimeError("this Originator runs on another event loop")
        if not self._settings["dest_url"]:
            raise ValueError("set dest_url (where the calls go) before starting")
        self._check_apps(self._settings["apps"])  # still loaded everywhere?
        if self._offered >= self._settings["max_offered"]:
            raise ValueError(f"max_offered ({self._settings['max_offered']}) calls were "
                             "already offered: raise max_offered (or reset()) to go on")
        if not any(c.connected for c in self.pool):
            raise RuntimeError(f"no node of {self.pool.names} is connected: connect the "
                               "pool (or run the Service) first")
        self._loop = loop
        self._run_id += 1
        now = loop.time()
        self._next_due = now
        if self._started_at is None:
            self._started_at = now
        self._set_state(ORIGINATING)
        self._task = loop.create_task(self._schedule(self._run_id),
                                      name=f"originator-{self.id[:8]}")

    def stop(self) -> None:
        """Stop offering calls (-> ``STOPPED``); calls in progress go on to their end."""
        if self._state == ORIGINATING:
            self._set_state(STOPPED)
            self._wake()

    def reset(self) -> None:
        """Zero the counters (not while originating or with calls in progress)."""
        if self._state == ORIGINATING or self._active or self._up:
            raise RuntimeError("reset() needs the Originator stopped with no call in progress")
        self._offered = self._answered = self._completed = self._failed_total = 0
        self._lost = self._lost_after_answer = self._cancelled = 0
        self._failed.clear()
        self._by_app.clear()
        self._by_node.clear()
        self.peak_concurrent = self._skipped = self._skipped_disconnected = 0
        self._recent.clear()
        self._started_at = self._stopped_at = None
        self._notify("stat", "offered", None, 0)

    async def hupall(self, timeout: float = 10.0, *, all_calls: bool = False) -> None:
        """Stop, and hang up every call of this Originator on every node; returns once
        they are all gone (``TimeoutError`` after ``timeout`` s).

        Only this Originator's calls are hung up (they carry the ``switchio_originator``
        variable); ``all_calls=True`` sends a plain ``hupall`` (every call of every node).
        """
        self.stop()
        ringing = list(self._active.values())
        for rec in itertools.chain(ringing, list(self._up.values())):
            rec.kill = True
            if rec.timer is not None:
                rec.timer.cancel()
                rec.timer = None
        # calls not answered yet are cancelled, not cleared: ORIGINATOR_CANCEL in their
        # CDR rows (the hupall below clears the answered ones)
        await asyncio.gather(*(rec.client.api(f"uuid_kill {rec.uuid} {CANCEL_CAUSE}")
                               for rec in ringing if rec.client.connected),
                             return_exceptions=True)
        cmd = "hupall" if all_calls else f"hupall NORMAL_CLEARING {ORIGINATOR_VAR} {self.id}"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            # again and again: an originate still on its way creates its channel later
            await self.pool.map(lambda c: c.api(cmd) if c.connected else None,
                                return_exceptions=True)
            if await self._until(lambda: not self.concurrent, min(0.5, timeout)):
                return
            if loop.time() >= deadline:
                raise TimeoutError(f"{self.concurrent} call(s) still in progress "
                                   f"{timeout:g} s after hupall")

    async def shutdown(self, timeout: float = 10.0) -> None:
        """Stop, hang up this Originator's calls, wait for them to end, then release
        everything (scheduler, timers, tasks; the Service if :func:`get_originator` made
        it). Idempotent; the Originator cannot be started again."""
        if self._closed:
            return
        self.stop()
        try:
            if self.concurrent:
                try:
                    await self.hupall(timeout)
                except (TimeoutError, ESLError) as exc:
                    log.warning("originator: shutting down with calls left: %s", exc)
        finally:
            self._closed = True
            tasks = [t for t in (self._task,) if t is not None and not t.done()]
            for rec in itertools.chain(list(self._active.values()), list(self._up.values())):
                if rec.timer is not None:
                    rec.timer.cancel()
                if rec.task is not None and not rec.task.done():
                    tasks.append(rec.task)
            tasks.extend(t for t in self._helpers if not t.done())
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)
            if self._own_service and self.service is not None:
                await self.service.stop()

    # -- waiting --------------------------------------------------------------------------
    async def _until(self, done: Callable[[], bool], timeout: float | None) -> bool:
        loop = asyncio.get_running_loop()
        end = None if timeout is None else loop.time() + timeout
        while not done():
            if end is not None and loop.time() >= end:
                return False
            await asyncio.sleep(0.01)
        return True

    async def waitwhile(self, predicate: Callable[[], Any] | str | None = None,
                        timeout: float | None = None) -> None:
        """Wait while ``predicate()`` is true (polled every 10 ms), or while the state is
        ``predicate`` (a state name). By default: while originating or any call is in
        progress. Raises :class:`TimeoutError` after ``timeout`` seconds."""
        if predicate is None:
            def busy() -> bool:
                return self._state == ORIGINATING or bool(self.concurrent)
            what = "calls in progress"
            pred: Callable[[], Any] = busy
        elif isinstance(predicate, str):
            if predicate not in STATES:
                raise ValueError(f"unknown state {predicate!r}; states are {STATES}")
            what = f"state {predicate}"
            pred = lambda: self._state == predicate  # noqa: E731
        elif callable(predicate):
            what = getattr(predicate, "__name__", "predicate")
            pred = predicate
        else:
            raise TypeError(f"predicate must be callable or a state name, not {predicate!r}")
        if not await self._until(lambda: not pred(), timeout):
            raise TimeoutError(f"still waiting ({what}) after {timeout:g} s: {self!r}")

    async def waitforstate(self, state: str, timeout: float | None = None) -> None:
        """Wait until the state is ``state`` (:class:`TimeoutError` after ``timeout``)."""
        if state not in STATES:
            raise ValueError(f"unknown state {state!r}; states are {STATES}")
        if not await self._until(lambda: self._state == state, timeout):
            raise TimeoutError(f"not {state} after {timeout:g} s (still {self._state})")

    # -- apps -----------------------------------------------------------------------------
    async def load_app(self, app: Any, app_id: str | None = None, weight: float = 1, **
                       prepost_kwargs: Any) -> str:
        """Load ``app`` on every node of the pool and give its calls ``weight``."""
        weight = check_number("weight", weight, low=0, strict_low=False, allow_inf=False)
        app_id = await self.app_manager.load_app(app, app_id, **prepost_kwargs)
        apps = dict(self._settings["apps"])
        apps[app_id] = weight
        self.configure(apps=apps)
        return app_id


async def get_originator(contacts: Any, **kwargs: Any) -> Originator:
    """A ready :class:`Originator` over a new, running :class:`~switchio_lab.service.Service`
    for ``contacts`` (hosts, ``host:port``, embedded nodes or a cluster: see
    :func:`~switchio_lab.pool.split_contact`).

    Keyword arguments that are Originator parameters (``rate``, ``limit``, ``dest_url``,
    ``seed`` ...) go to it; ``apps`` may map app ids to ``(app, weight)`` pairs (loaded
    on every node) as well as to weights of apps loaded already; the rest (``port``,
    ``auth``, client options) go to the Service. :meth:`Originator.shutdown` stops the
    Service too.
    """
    params = set(inspect.signature(Originator).parameters) - {"target"}
    orig_kwargs = {k: kwargs.pop(k) for k in list(kwargs) if k in params}
    to_load = {}
    apps = dict(orig_kwargs.pop("apps", None) or {})
    for app_id, value in list(apps.items()):
        if isinstance(value, tuple):
            to_load[app_id] = value
            del apps[app_id]
    service = Service(contacts, **kwargs)
    await service.run()
    try:
        orig = Originator(service, apps=apps, **orig_kwargs)
        orig._own_service = True
        for app_id, (app, weight) in to_load.items():
            await orig.load_app(app, app_id, weight)
    except BaseException:
        await service.stop()
        raise
    return orig


__all__ = ["CallInfo", "Change", "Originator", "get_originator"]
