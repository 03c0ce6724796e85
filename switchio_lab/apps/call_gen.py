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
import numbers
import random
import uuid as uuidlib
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple

from ..api import AppError, Client
from ..connection.errors import (
    CommandTimeout,
    ConnectionLost,
    ESLError,
    NotConnected,
)
from ..models import SessionEnded
from ..pool import NodePool
from ..service import Service
from . import AppManager

log = logging.getLogger("switchio_lab")

INITIAL = "INITIAL"
ORIGINATING = "ORIGINATING"
STOPPED = "STOPPED"
STATES = (INITIAL, ORIGINATING, STOPPED)

#: the channel variable that tags every call of an Originator (``hupall`` uses it)
ORIGINATOR_VAR = "switchio_originator"

#: failure causes by kind (see :func:`failure_kind`)
FAILURE_KINDS: dict[str, frozenset[str]] = {
    "capacity": frozenset({"SWITCH_CONGESTION", "NORMAL_CIRCUIT_CONGESTION",
                           "RESOURCE_UNAVAILABLE", "BEARERCAPABILITY_NOTAVAIL"}),
    "busy": frozenset({"USER_BUSY"}),
    "unreachable": frozenset({"NORMAL_TEMPORARY_FAILURE", "NO_ROUTE_DESTINATION",
                              "NO_ROUTE_TRANSIT_NET", "DESTINATION_OUT_OF_ORDER",
                              "NETWORK_OUT_OF_ORDER", "UNALLOCATED_NUMBER",
                              "RECOVERY_ON_TIMER_EXPIRE", "USER_NOT_REGISTERED",
                              "SUBSCRIBER_ABSENT", "INVALID_NUMBER_FORMAT",
                              "INCOMPATIBLE_DESTINATION"}),
    "no_answer": frozenset({"NO_ANSWER", "NO_USER_RESPONSE", "ALLOTTED_TIMEOUT",
                            "PROGRESS_TIMEOUT", "ORIGINATOR_CANCEL"}),
    "rejected": frozenset({"CALL_REJECTED", "OUTGOING_CALL_BARRED",
                           "INCOMING_CALL_BARRED", "FACILITY_REJECTED"}),
    "client": frozenset({"APP_NOT_LOADED", "NOT_CONNECTED", "CONNECTION_LOST",
                         "COMMAND_TIMEOUT", "ESL_ERROR", "CLIENT_ERROR",
                         "ORIGINATOR_SHUTDOWN"}),
}


def failure_kind(cause: str) -> str:
    """The kind of a failure cause: ``capacity``, ``busy``, ``unreachable``,
    ``no_answer``, ``rejected``, ``client`` (the originate never got a switch's answer)
    or ``other``.

    Note that a far end refusing a call for lack of capacity (a SIP 503, as FreeSWITCH
    sends when its ``max_sessions`` is reached) reaches the caller as
    ``NORMAL_TEMPORARY_FAILURE``, which is counted as ``unreachable``; only the
    originating node's own limits give ``SWITCH_CONGESTION``.
    """
    for kind, causes in FAILURE_KINDS.items():
        if cause in causes:
            return kind
    return "other"


class Change(NamedTuple):
    """What an :meth:`Originator.on_change` observer is told.

    ``kind`` is ``"state"`` (``name`` is ``"state"``), ``"setting"`` (``name`` is the
    setting) or ``"stat"`` (``name`` is ``offered``, ``answered``, ``failed`` or
    ``completed``; ``old``/``new`` are the counts, and for ``failed`` the total, with the
    cause in ``detail``).
    """

    owner: Originator
    kind: str
    name: str
    old: Any
    new: Any
    detail: Any = None


class _Call:
    """One offered call, while it is in progress."""

    __slots__ = ("uuid", "client", "node", "app_id", "offered_at", "answered_at", "timer",
                 "kill", "task")

    def __init__(self, uuid: str, client: Client, node: str, app_id: str | None,
                 offered_at: float) -> None:
        self.uuid = uuid
        self.client = client
        self.node = node
        self.app_id = app_id
        self.offered_at = offered_at
        self.answered_at: float | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.kill = False
        self.task: asyncio.Task[None] | None = None


def _number(name: str, value: Any, *, low: float, strict_low: bool, allow_inf: bool,
            integer: bool = False) -> float:
    """Check a numeric setting; the message says what was wrong and what is allowed."""
    kind = "an integer" if integer else "a number"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be {kind}, not {value!r}")
    value = float(value) if not isinstance(value, numbers.Integral) else int(value)
    if math.isnan(value):
        raise ValueError(f"{name} must be {kind}, not NaN")
    if math.isinf(value):
        if allow_inf and value > 0:
            return math.inf
        raise ValueError(f"{name} must be finite, not {value!r}")
    if integer and value != int(value):
        raise ValueError(f"{name} must be {kind}, not {value!r}")
    if value < low or (strict_low and value == low):
        bound = f"> {low:g}" if strict_low else f">= {low:g}"
        raise ValueError(f"{name} must be {bound}, not {value!r}")
    return int(value) if integer else value


class Originator:
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
      (``APP_NOT_LOADED``, ``NOT_CONNECTED``, ``CONNECTION_LOST``, ``COMMAND_TIMEOUT``
      ...); :attr:`failed_total` is their sum;
    - :attr:`up` -- answered calls whose originating leg still exists;
    - :attr:`completed` -- answered calls whose originating leg is gone
      (its CHANNEL_DESTROY was seen);
    - :attr:`concurrent` -- ``active + up``: the calls that count against ``limit``.

    At every moment (between two steps of the event loop)::

        offered == answered + failed_total + active
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
    never turns into a bigger burst (``stats()["skipped"]`` counts them).
    """

    #: how far behind the schedule may fall and still be caught up: ``max_lag`` seconds
    #: or ``max_burst`` calls, whichever is longer; calls due before that are skipped
    #: (counted in ``stats()["skipped"]``), so a stall never causes a bigger burst
    max_lag = 0.05
    max_burst = 10

    _SETTINGS = ("rate", "limit", "duration", "duration_offset", "max_offered", "dest_url",
                 "profile", "proxy", "apps", "variables")

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
        self._active: dict[str, _Call] = {}
        self._up: dict[str, _Call] = {}
        self._by_app: Counter[str | None] = Counter()
        self._by_node: Counter[str] = Counter()
        self.peak_concurrent = 0
        self._recent: deque[float] = deque()  # offer times of the last second
        self._skipped = 0
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

    # -- settings -----------------------------------------------------------------------
    def _validate(self, new: dict[str, Any]) -> dict[str, Any]:
        """The settings as they would be with ``new`` applied (raises ValueError)."""
        unknown = sorted(set(new) - set(self._SETTINGS))
        if unknown:
            raise ValueError(f"unknown Originator setting(s) {unknown}; the settings are "
                             f"{list(self._SETTINGS)}")
        out = dict(self._settings)
        for name, value in new.items():
            if name == "rate":
                value = _number("rate", value, low=0, strict_low=True, allow_inf=False)
            elif name == "limit":
                value = _number("limit", value, low=1, strict_low=False, allow_inf=False,
                                integer=True)
            elif name == "duration":
                if value is not None:
                    value = _number("duration", value, low=0, strict_low=False,
                                    allow_inf=True)
            elif name == "duration_offset":
                value = _number("duration_offset", value, low=0, strict_low=False,
                                allow_inf=False)
            elif name == "max_offered":
                value = _number("max_offered", value, low=0, strict_low=False,
                                allow_inf=True, integer=True)
            elif name == "dest_url":
                if value is not None and (not isinstance(value, str) or not value.strip()
                                          or any(c.isspace() for c in value)):
                    raise ValueError(f"dest_url must be a non-empty string without spaces "
                                     f"(user@host:port or a dial string), not {value!r}")
            elif name == "profile":
                if not isinstance(value, str) or not value or any(c.isspace() for c in value):
                    raise ValueError(f"profile must be a SIP profile name, not {value!r}")
            elif name == "proxy":
                if value is not None and (not isinstance(value, str) or not value
                                          or any(c.isspace() for c in value)):
                    raise ValueError(f"proxy must be host[:port] or None, not {value!r}")
            elif name == "apps":
                value = self._check_apps(value)
            elif name == "variables":
                if value is None:
                    value = {}
                if not isinstance(value, Mapping):
                    raise ValueError(f"variables must be a mapping, not {value!r}")
                value = dict(value)
                bad = [k for k in value if not isinstance(k, str) or not k
                       or any(c in k for c in ",={} ")]
                if bad:
                    raise ValueError(f"variables: bad channel variable name(s) {bad}")
                taken = sorted(set(value) & self._reserved())
                if taken:
                    raise ValueError(f"variables: {taken} are set by the Originator itself "
                                     "(call tracking, app id, originate arguments)")
            out[name] = value
        return out

    def _reserved(self) -> set[str]:
        """Variable names the Originator (and ``Client.originate``) set themselves."""
        names = {"origination_uuid", "switchio_call", "sip_h_X-switchio_call", ORIGINATOR_VAR,
                 "app_id", "uuid", "profile", "proxy", "endpoint", "app_name", "app_arg",
                 "bgapi", "dest_url"}
        for client in self.pool:
            names.update((client.app_id_var, f"sip_h_X-{client.app_id_var}"))
        return names

    def _check_apps(self, apps: Any) -> dict[str, float]:
        if apps is None:
            return {}
        if not isinstance(apps, Mapping):
            raise ValueError(f"apps must be a mapping {{app_id: weight}}, not {apps!r}")
        weights = {}
        for app_id, weight in apps.items():
            weights[app_id] = _number(f"the weight of app {app_id!r}", weight, low=0,
                                      strict_low=False, allow_inf=False)
        if weights and not any(weights.values()):
            raise ValueError(f"apps: at least one weight must be > 0 (got {weights})")
        for app_id in weights:
            missing = [self.pool.name_of(c) for c in self.pool if app_id not in c.apps]
            if missing:
                raise ValueError(f"apps: no app is loaded under {app_id!r} on {missing}; "
                                 "load it on every node first (Originator.load_app or an "
                                 "AppManager)")
        return weights

    def configure(self, **settings: Any) -> None:
        """Change several settings at once: all are checked before any is applied, so an
        invalid value raises :class:`ValueError` and changes nothing."""
        if self._closed:
            raise RuntimeError("this Originator was shut down")
        old = dict(self._settings)
        old_duration = self.duration
        new = self._validate(settings)
        self._settings = new
        if "apps" in settings:
            self._set_weights(new["apps"])
        for name in settings:
            if name != "duration" and old[name] != new[name]:
                self._notify("setting", name, old[name], new[name])
        if self.duration != old_duration or old["duration"] != new["duration"]:
            # the duration in effect (derived or set) is what observers are told
            self._notify("setting", "duration", old_duration, self.duration)
            self._retime()
        if self._state == ORIGINATING and "rate" in settings and self._loop is not None:
            # re-anchor the schedule at the last offer: the new rate holds from now on
            now = self._loop.time()
            last = self._last_offer if self._last_offer is not None else now
            self._next_due = max(last + 1.0 / new["rate"], now)
        self._wake()

    def _set_weights(self, apps: dict[str, float]) -> None:
        ids = [a for a, w in apps.items() if w > 0]
        self._app_ids = ids or [None]
        self._app_cum = list(itertools.accumulate(apps[a] for a in ids)) if ids else [1.0]

    def settings(self) -> dict[str, Any]:
        """The current settings (``duration`` as in effect, ``auto_duration`` tells)."""
        out = dict(self._settings)
        out["apps"] = dict(out["apps"])
        out["variables"] = dict(out["variables"])
        out["auto_duration"] = out["duration"] is None
        out["duration"] = self.duration
        return out

    def _setting(name: str, doc: str) -> property:  # a class-body helper, deleted below
        def get(self: Originator) -> Any:
            value = self._settings[name]
            return dict(value) if isinstance(value, dict) else value

        def set_(self: Originator, value: Any) -> None:
            self.configure(**{name: value})
        return property(get, set_, doc=doc)

    rate = _setting("rate", "Calls offered per second over the whole pool.")
    limit = _setting("limit", "Most calls in progress at once (``active + up``).")
    duration_offset = _setting("duration_offset", "Margin (s) of the derived duration.")
    max_offered = _setting("max_offered", "Stop after offering this many calls.")
    dest_url = _setting("dest_url", "Where calls go: ``user@host:port`` or a dial string.")
    profile = _setting("profile", "The SIP profile calls are placed on.")
    proxy = _setting("proxy", "An outbound proxy (``host[:port]``) or None.")
    apps = _setting("apps", "``{app_id: weight}``: each call's app id is drawn with these "
                            "weights.")
    variables = _setting("variables", "Extra channel variables set on every call.")
    del _setting

    @property
    def duration(self) -> float:
        """Seconds from a call's offer to its hangup (derived unless set; see the class)."""
        value = self._settings["duration"]
        if value is None:
            return self._settings["limit"] / self._settings["rate"] + \
                self._settings["duration_offset"]
        return value

    @duration.setter
    def duration(self, value: float | None) -> None:
        self.configure(duration=value)

    @property
    def auto_duration(self) -> bool:
        """True while ``duration`` is derived from ``limit`` and ``rate``."""
        return self._settings["duration"] is None

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

    def _notify(self, kind: str, name: str, old: Any, new: Any, detail: Any = None) -> None:
        if not self._observers:
            return
        change = Change(self, kind, name, old, new, detail)
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
        self._failed.clear()
        self._by_app.clear()
        self._by_node.clear()
        self.peak_concurrent = self._skipped = 0
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
        for rec in itertools.chain(list(self._active.values()), list(self._up.values())):
            rec.kill = True
            if rec.timer is not None:
                rec.timer.cancel()
                rec.timer = None
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
        weight = _number("weight", weight, low=0, strict_low=False, allow_inf=False)
        app_id = await self.app_manager.load_app(app, app_id, **prepost_kwargs)
        apps = dict(self._settings["apps"])
        apps[app_id] = weight
        self.configure(apps=apps)
        return app_id

    # -- accounting -----------------------------------------------------------------------
    @property
    def offered(self) -> int:
        """Calls offered (see the class doc for every counter's definition)."""
        return self._offered

    @property
    def answered(self) -> int:
        """Calls answered, including the ones that have ended since."""
        return self._answered

    @property
    def failed(self) -> Counter[str]:
        """Failed calls by cause (a copy)."""
        return Counter(self._failed)

    @property
    def offered_by_app(self) -> Counter[str | None]:
        """Calls offered per app id (None: no app id), a copy."""
        return Counter(self._by_app)

    @property
    def offered_by_node(self) -> Counter[str]:
        """Calls offered per node name (see :attr:`NodePool.names`), a copy."""
        return Counter(self._by_node)

    @property
    def failed_total(self) -> int:
        return self._failed_total

    @property
    def active(self) -> int:
        """Calls offered whose outcome (answered or failed) is not known yet."""
        return len(self._active)

    @property
    def up(self) -> int:
        """Answered calls not ended yet."""
        return len(self._up)

    @property
    def completed(self) -> int:
        """Answered calls that have ended."""
        return self._completed

    @property
    def concurrent(self) -> int:
        """Calls in progress: ``active + up`` (what ``limit`` caps)."""
        return len(self._active) + len(self._up)

    @property
    def cps(self) -> float:
        """Calls offered in the last second."""
        if self._loop is None:
            return 0.0
        self._trim(self._loop.time())
        return float(len(self._recent))

    def _trim(self, now: float) -> None:
        recent = self._recent
        while recent and now - recent[0] > 1.0:
            recent.popleft()

    def stats(self) -> dict[str, Any]:
        """Every counter, the state and a few rates, as one dict (a snapshot)."""
        now = self._loop.time() if self._loop is not None else None
        elapsed = 0.0
        if now is not None and self._started_at is not None:
            elapsed = (self._stopped_at or now) - self._started_at
        kinds: Counter[str] = Counter()
        for cause, n in self._failed.items():
            kinds[failure_kind(cause)] += n
        return {
            "state": self._state,
            "offered": self._offered,
            "answered": self._answered,
            "failed": dict(self._failed),
            "failed_total": self._failed_total,
            "failed_by_kind": dict(kinds),
            "active": len(self._active),
            "up": len(self._up),
            "completed": self._completed,
            "concurrent": self.concurrent,
            "peak_concurrent": self.peak_concurrent,
            "skipped": self._skipped,
            "cps": self.cps,
            "elapsed": elapsed,
            "offered_by_app": dict(self._by_app),
            "offered_by_node": dict(self._by_node),
        }

    # -- scheduling -----------------------------------------------------------------------
    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _pause(self, until: float | None) -> None:
        """Sleep until loop time ``until`` (None: until woken), or until woken."""
        loop = self._loop
        assert loop is not None
        fut = loop.create_future()
        self._waiter = fut
        handle = loop.call_at(until, _resolve, fut) if until is not None else None
        try:
            await fut
        finally:
            if self._waiter is fut:
                self._waiter = None
            if handle is not None:
                handle.cancel()

    async def _schedule(self, run_id: int) -> None:
        """The one task that offers calls (see the class doc, *Scheduling*)."""
        loop = self._loop
        assert loop is not None
        settings = self._settings
        in_a_row = 0  # calls offered without yielding to the loop
        try:
            while self._state == ORIGINATING and run_id == self._run_id:
                settings = self._settings
                if in_a_row >= 64:  # a long catch-up (a huge rate): let the loop breathe
                    in_a_row = 0
                    await asyncio.sleep(0)
                    continue
                if self._offered >= settings["max_offered"]:
                    log.info("originator: max_offered (%s) reached", settings["max_offered"])
                    self._set_state(STOPPED)
                    break
                now = loop.time()
                due = self._next_due
                if due > now:
                    in_a_row = 0
                    await self._pause(due)
                    continue
                if self.concurrent >= settings["limit"]:
                    in_a_row = 0
                    await self._pause(None)  # a call ending (or a setting) wakes us
                    continue
                bound = max(self.max_lag, self.max_burst / settings["rate"])
                if now - due > bound:  # a stall: drop the calls due long ago
                    self._skipped += int((now - due - bound) * settings["rate"])
                    due = now - bound
                self._offer(now)
                in_a_row += 1
                self._next_due = due + 1.0 / settings["rate"]
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("originator: the scheduler failed; stopping")
            self._set_state(STOPPED)

    def _next_client(self) -> Client | None:
        clients = self.pool.clients
        n = len(clients)
        for _ in range(n):
            client = clients[self._node_index % n]
            self._node_index = (self._node_index + 1) % n
            if client.connected:
                return client
        return clients[self._node_index % n] if n else None

    def _pick_app(self) -> str | None:
        ids = self._app_ids
        if len(ids) == 1:
            return ids[0]
        cum = self._app_cum
        x = self._random.random() * cum[-1]
        for app_id, edge in zip(ids, cum, strict=True):
            if x < edge:
                return app_id
        return ids[-1]

    def _offer(self, now: float) -> None:
        client = self._next_client()
        assert client is not None
        app_id = self._pick_app()
        node = self.pool.name_of(client)
        rec = _Call(str(uuidlib.uuid4()), client, node, app_id, now)
        old = self._offered
        self._offered += 1
        self._active[rec.uuid] = rec
        self._last_offer = now
        self._recent.append(now)
        self._trim(now)
        self._by_app[app_id] += 1
        self._by_node[node] += 1
        concurrent = len(self._active) + len(self._up)
        if concurrent > self.peak_concurrent:
            self.peak_concurrent = concurrent
        rec.task = self._loop.create_task(self._place(rec))  # type: ignore[union-attr]
        self._notify("stat", "offered", old, self._offered)

    # -- one call -------------------------------------------------------------------------
    async def _place(self, rec: _Call) -> None:
        settings = self._settings
        client = rec.client
        try:
            try:
                job = await client.originate(
                    settings["dest_url"], app_id=rec.app_id, uuid=rec.uuid,
                    profile=settings["profile"], proxy=settings["proxy"],
                    **{ORIGINATOR_VAR: self.id}, **settings["variables"])
                await job
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._fail(rec, _client_cause(exc))
                return
            if not job.successful:
                self._fail(rec, job.cause or "UNKNOWN")
                return
            self._answer(rec)
            sess = client.listener.sessions.get(rec.uuid)
            if sess is not None and not sess.destroyed:
                try:
                    await sess.recv("CHANNEL_DESTROY", timeout=None)
                except SessionEnded:
                    pass
            self._complete(rec)
        except asyncio.CancelledError:
            if rec.uuid in self._active:
                self._fail(rec, "ORIGINATOR_SHUTDOWN")
            elif rec.uuid in self._up:
                self._complete(rec)
            raise

    def _fail(self, rec: _Call, cause: str) -> None:
        if self._active.pop(rec.uuid, None) is None:
            return
        old = self._failed_total
        self._failed[cause] += 1
        self._failed_total += 1
        self._notify("stat", "failed", old, self._failed_total, cause)
        self._slot_freed()

    def _answer(self, rec: _Call) -> None:
        if self._active.pop(rec.uuid, None) is None:
            return
        loop = self._loop
        assert loop is not None
        rec.answered_at = loop.time()
        self._up[rec.uuid] = rec
        old = self._answered
        self._answered += 1
        self._notify("stat", "answered", old, self._answered)
        if rec.kill:
            self._hangup(rec)
        else:
            self._arm(rec)

    def _complete(self, rec: _Call) -> None:
        if self._up.pop(rec.uuid, None) is None:
            return
        if rec.timer is not None:
            rec.timer.cancel()
            rec.timer = None
        old = self._completed
        self._completed += 1
        self._notify("stat", "completed", old, self._completed)
        self._slot_freed()

    def _slot_freed(self) -> None:
        if self._waiter is not None and self.concurrent < self._settings["limit"]:
            self._wake()

    def _arm(self, rec: _Call) -> None:
        """(Re)schedule the hangup of an answered call, ``duration`` after its offer."""
        if rec.timer is not None:
            rec.timer.cancel()
            rec.timer = None
        duration = self.duration
        if math.isinf(duration):
            return
        loop = self._loop
        assert loop is not None
        when = rec.offered_at + duration
        if when <= loop.time():
            self._hangup(rec)
        else:
            rec.timer = loop.call_at(when, self._hangup, rec)

    def _retime(self) -> None:
        for rec in list(self._up.values()):
            if not rec.kill:
                self._arm(rec)

    def _hangup(self, rec: _Call) -> None:
        rec.timer = None
        if rec.uuid not in self._up or self._loop is None:
            return
        task = self._loop.create_task(self._kill(rec))
        self._helpers.add(task)
        task.add_done_callback(self._helpers.discard)

    async def _kill(self, rec: _Call) -> None:
        try:
            await rec.client.api(f"uuid_kill {rec.uuid} NORMAL_CLEARING")
        except ESLError as exc:  # the connection is gone: the call is lost with it
            log.debug("originator: uuid_kill %s failed: %s", rec.uuid, exc)


def _resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


def _client_cause(exc: BaseException) -> str:
    if isinstance(exc, AppError):
        return "APP_NOT_LOADED"
    if isinstance(exc, NotConnected):
        return "NOT_CONNECTED"
    if isinstance(exc, ConnectionLost):
        return "CONNECTION_LOST"
    if isinstance(exc, CommandTimeout):
        return "COMMAND_TIMEOUT"
    if isinstance(exc, ESLError):
        return "ESL_ERROR"
    log.error("originator: originate failed: %r", exc, exc_info=exc)
    return "CLIENT_ERROR"


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


__all__ = ["Change", "FAILURE_KINDS", "INITIAL", "ORIGINATING", "ORIGINATOR_VAR", "Originator",
           "STOPPED", "STATES", "failure_kind", "get_originator"]
