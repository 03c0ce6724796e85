"""The Originator auto-dialer against two embedded nodes (calls from node 1 to node 2).

Every run is watched by :class:`Watch`, which checks the accounting invariants every
10 ms while calls are placed:

    offered == answered + failed_total + lost + active,   answered == up + completed,
    concurrent == active + up <= limit

and, where every call succeeds, that the switch never holds more calling legs than the
Originator counts in progress (so ``limit`` holds on the switch too).
"""

from __future__ import annotations

import asyncio
import math
import time

import pytest

import switchio_lab as switchio
from switchio_lab.apps.originator import (
    INITIAL,
    ORIGINATING,
    STOPPED,
    Originator,
    failure_kind,
    get_originator,
)
from switchio_lab.pool import NodePool
from switchio_lab.sim import Cluster, Rule
from switchio_lab.sim import media as _media
from switchio_lab.testing import pause, scaled, until

# the embedded switch imports its media code (numpy) at the first hangup, which blocks the
# loop for a few hundred ms: it is imported above rather than in the middle of a timed run
del _media

ANSWER = [Rule(r".*", [("answer", ""), ("park", "")])]


class Watch:
    """Samples an Originator every 10 ms and records any broken invariant."""

    def __init__(self, orig: Originator, node=None, node_check: bool = True) -> None:
        self.orig = orig
        self.node = node  # the calling node: its channels are the calling legs
        self.node_check = node_check
        self.samples: list[tuple[float, int, int, int]] = []  # (t, concurrent, offered, limit)
        self.errors: list[str] = []
        self.stalled = 0.0  # the longest the loop went without running this sampler
        self._task: asyncio.Task | None = None

    def check(self) -> None:
        o = self.orig
        s = o.stats()
        t = time.perf_counter()
        if s["offered"] != s["answered"] + s["failed_total"] + s["lost"] + s["active"]:
            self.errors.append(f"offered != answered + failed + lost + active: {s}")
        if s["failed_total"] != sum(s["failed"].values()):
            self.errors.append(f"failed_total != sum(failed): {s}")
        if s["answered"] != s["up"] + s["completed"]:
            self.errors.append(f"answered != up + completed: {s}")
        if s["concurrent"] != s["active"] + s["up"]:
            self.errors.append(f"concurrent != active + up: {s}")
        # above the limit only after it was lowered, and then never rising
        prev = self.samples[-1] if self.samples else (0, 0, 0, 0)
        ceiling = max(o.limit, prev[3], prev[1])
        if s["concurrent"] > ceiling:
            self.errors.append(f"{s['concurrent']} calls in progress > limit {o.limit}")
        if self.node is not None and self.node_check and len(self.node.channels) > \
                s["concurrent"]:
            self.errors.append(f"the switch holds {len(self.node.channels)} calling legs, "
                               f"the Originator counts {s['concurrent']}")
        self.samples.append((t, s["concurrent"], s["offered"], o.limit))

    async def _run(self) -> None:
        while True:
            self.check()
            t = time.perf_counter()
            await pause(0.01)
            self.stalled = max(self.stalled, time.perf_counter() - t - 0.01)

    def __enter__(self) -> Watch:
        self._task = asyncio.ensure_future(self._run())
        return self

    def __exit__(self, *exc) -> None:
        self._task.cancel()
        self.check()
        assert not self.errors, self.errors[:5]

    def offered_at(self, t: float) -> int:
        """Offered count at the last sample taken at or before perf_counter time ``t``."""
        best = 0
        for st, _, offered, _ in self.samples:
            if st <= t:
                best = offered
        return best


@pytest.fixture
async def cluster(sim_cluster: Cluster) -> Cluster:
    sim_cluster[1].config.dialplan = list(ANSWER)  # node 2 answers every call
    return sim_cluster


@pytest.fixture
async def caller(cluster: Cluster):
    client = switchio.Client(cluster[0].host, cluster[0].esl_port, reconnect=False)
    await client.connect()
    yield client
    await client.disconnect()


@pytest.fixture
async def make(cluster: Cluster, caller):
    """``make(**settings)``: an Originator on node 1 calling node 2 (shut down after)."""
    made: list[Originator] = []

    def factory(target=None, **kwargs) -> Originator:
        kwargs.setdefault("dest_url", f"load@{cluster[1].sip_address()}")
        orig = Originator(target or caller, **kwargs)
        made.append(orig)
        return orig

    yield factory
    for orig in made:
        await orig.shutdown(timeout=5)


async def sleep_until(t: float) -> None:
    await asyncio.sleep(max(0.0, t - time.perf_counter()))


class OfferLog:
    """Every offer as the scheduler makes it: ``(loop time, offered, skipped)``.

    Read in the ``offered`` notification, i.e. inside the scheduler's step, so the counts
    are exact for that instant however late a loaded machine runs the loop.
    """

    def __init__(self, orig: Originator) -> None:
        self.loop = asyncio.get_running_loop()
        self.orig = orig
        self.rows: list[tuple[float, int, int]] = []
        orig.on_change(self._seen, kinds=["stat"])

    def _seen(self, change) -> None:
        if change.name == "offered" and change.new:
            self.rows.append((self.loop.time(), change.new, self.orig.stats()["skipped"]))

    def now(self) -> tuple[float, int, int]:
        return self.loop.time(), self.orig.offered, self.orig.stats()["skipped"]

    def scheduled_between(self, start: tuple[float, int, int], end: float):
        """Calls the schedule dealt with (offered or skipped) from ``start`` to the last
        offer at or before loop time ``end``, and the time they took."""
        last = max((r for r in self.rows if r[0] <= end), key=lambda r: r[0])
        return last[1] + last[2] - start[1] - start[2], last[0] - start[0]


def assert_rate(calls: int, span: float, rate: float, max_burst: int) -> None:
    """The absolute schedule: one call every ``1/rate`` s from the anchor; an offer is
    never early, and never later than the catch-up bound (the calls due before it are
    skipped and counted), so ``calls`` is ``rate * span`` within that bound (either way:
    ``span`` may start at an offer that was itself late)."""
    bound = max(Originator.max_lag, max_burst / rate)
    assert rate * (span - bound) - 2 <= calls <= rate * (span + bound) + 2, \
        (calls, span, rate)


# -- rate, limit, duration ----------------------------------------------------------------
async def test_rate_is_held_on_the_schedule(make, cluster) -> None:
    orig = make(rate=50, limit=1000, duration=0.3)
    offers = OfferLog(orig)
    assert orig.state == INITIAL
    with Watch(orig, cluster[0]):
        orig.start()
        started = offers.now()
        assert orig.state == ORIGINATING
        await until(lambda: orig.offered >= 150, timeout=30)
        orig.stop()
        offered = orig.offered
        assert orig.state == STOPPED
        await orig.waitwhile(timeout=10)
    # on the schedule all along, by the scheduler's own count, not just on average:
    # the whole run and each third of it
    calls, span = offers.scheduled_between(started, math.inf)
    assert_rate(calls, span, 50, orig.max_burst)
    rows = offers.rows
    for k in (50, 100):
        part, part_span = offers.scheduled_between(rows[k - 1], rows[k + 49][0])
        assert_rate(part, part_span, 50, orig.max_burst)
    assert orig.answered == orig.completed == offered and not orig.failed
    assert orig.stats()["offered_by_node"] == {"127.0.0.1": offered}
    await until(lambda: not cluster[0].channels and not cluster[1].channels)


async def test_limit_never_exceeded_and_reached_in_steady_state(make, cluster, caller) -> None:
    orig = make(rate=40, limit=8)  # duration derived: 8 / 40 + 1 = 1.2 s
    assert orig.auto_duration and orig.duration == pytest.approx(1.2)
    offers = OfferLog(orig)
    with Watch(orig, cluster[0]) as watch:
        orig.start()
        started = offers.now()
        await until(lambda: orig.concurrent == 8, timeout=10)
        assert caller.listener.count_calls() <= 8
        # the limit gates the rate: a slot frees only when its call ends, ``duration``
        # after its offer, and then it is refilled
        await until(lambda: orig.offered >= 8 * 2 + 1, timeout=20)
        orig.stop()
    # (calls due while waiting for a slot are skipped, as after any stall: see the class)
    span = offers.rows[-1][0] - started[0]
    assert orig.offered <= 8 * (span / orig.duration + 1), (orig.offered, span)
    assert max(c for _, c, _, _ in watch.samples) == 8
    assert orig.peak_concurrent == 8
    await orig.hupall(timeout=10)


async def test_calls_are_hung_up_after_duration(make, cluster, caller) -> None:
    lifetimes: list[float] = []
    causes: list[str] = []

    class Lifetimes:
        @switchio.callback("CHANNEL_HANGUP")
        def on_hangup(self, sess) -> None:
            lifetimes.append(sess.times["hangup"] - sess.times["create"])
            causes.append(sess.cause)

    await caller.load_app(Lifetimes)  # the default app: gets the calling legs
    orig = make(rate=25, limit=100, duration=0.4)
    with Watch(orig, cluster[0]):
        orig.start()
        await pause(0.8)
        orig.stop()
        await orig.waitwhile(timeout=3)
    assert len(lifetimes) == orig.offered == orig.completed >= 18
    # switch times, on its 20 ms clock: 0.4 s reads 0.38 to 0.42
    assert all(0.4 - 0.021 <= x <= 0.8 for x in lifetimes), lifetimes
    assert sorted(lifetimes)[len(lifetimes) // 2] <= 0.5, lifetimes  # typically ~0.40
    assert set(causes) == {"NORMAL_CLEARING"}


async def test_the_hold_counts_from_the_offer_as_in_switchio(make, cluster, caller) -> None:
    """``duration`` bounds a call's whole life, ringing included, as switchio's did (it
    hung up ``duration`` after the calling leg's CHANNEL_CREATE, at once if the answer came
    later): the time the far end took to answer is taken off the answered time, and a call
    answered after its time is hung up as soon as it is answered."""
    answer_after = scaled(0.6)
    cluster[1].config.answer_delay = answer_after
    held: dict[str, tuple[float, float]] = {}  # caller uuid -> (answer - create, hangup - answer)

    class Times:
        @switchio.callback("CHANNEL_HANGUP")
        def on_hangup(self, sess) -> None:
            t = sess.times
            if t.get("answer") is not None:
                held[sess.uuid] = (t["answer"] - t["create"], t["hangup"] - t["answer"])

    await caller.load_app(Times)  # the default app: gets the calling legs
    duration = answer_after + scaled(0.6)
    orig = make(rate=10, limit=5, duration=duration, max_offered=2)
    orig.start()
    await orig.waitwhile(timeout=scaled(10))
    assert orig.completed == 2 and len(held) == 2
    for ringing, answered in held.values():
        assert ringing >= answer_after - 0.021  # (switch times: a 20 ms clock)
        # held to the offer + duration, not answer + duration (which is ~0.6 s longer)
        assert answered < duration - answer_after / 2, held

    # answered after its time: hung up as soon as it is answered
    orig.configure(duration=answer_after / 3, max_offered=3)
    orig.start()
    await orig.waitwhile(timeout=scaled(10))
    assert orig.completed == 3 and orig.failed_total == 0 and len(held) == 3
    assert list(held.values())[-1][1] < scaled(0.5), held  # not held another third


async def test_max_offered_stops_it(make, cluster) -> None:
    orig = make(rate=100, limit=100, duration=0.2, max_offered=25)
    with Watch(orig, cluster[0]):
        orig.start()
        await orig.waitforstate(STOPPED, timeout=2)
        assert orig.offered == 25
        await orig.waitwhile(timeout=3)  # stopped, and every call ended
        await pause(0.1)
    assert orig.offered == orig.answered == orig.completed == 25
    with pytest.raises(ValueError, match="max_offered"):
        orig.start()  # nothing left to offer
    orig.max_offered = 30
    orig.start()
    await orig.waitforstate(STOPPED, timeout=2)
    await orig.waitwhile(timeout=3)
    assert orig.offered == orig.completed == 30


# -- failures -----------------------------------------------------------------------------
async def test_failures_are_counted_by_cause_and_never_stall(make, cluster, caller) -> None:
    # the calling node's own session limit: SWITCH_CONGESTION at originate
    await caller.api("fsctl max_sessions 4")
    orig = make(rate=50, limit=20, duration=1.0)
    offers = OfferLog(orig)
    with Watch(orig, cluster[0], node_check=False):
        orig.start()
        started = offers.now()
        await until(lambda: orig.offered >= 50, timeout=20)
        orig.stop()
    calls, span = offers.scheduled_between(started, math.inf)
    assert_rate(calls, span, 50, orig.max_burst)  # the failures did not slow it down
    # 4 sessions, each freed ``duration`` after its offer: the rest is congestion
    assert 4 <= orig.answered <= 4 * (span / orig.duration + 1), (orig.stats(), span)
    assert orig.failed["SWITCH_CONGESTION"] >= orig.offered - orig.answered - orig.active
    assert orig.failed["SWITCH_CONGESTION"] >= 30, orig.stats()
    assert orig.stats()["failed_by_kind"]["capacity"] == orig.failed_total
    await orig.waitwhile(timeout=3)
    await caller.api("fsctl max_sessions 1000")

    # the called node's limit: it refuses the INVITE (503), the caller sees
    # NORMAL_TEMPORARY_FAILURE, as from FreeSWITCH
    cluster[1].config.max_sessions = 3
    orig2 = make(rate=50, limit=20, duration=1.0)
    with Watch(orig2, cluster[0], node_check=False):
        orig2.start()
        await until(lambda: orig2.offered >= 25, timeout=20)
        orig2.stop()
        await orig2.waitwhile(timeout=3)
    assert orig2.answered == 3 and orig2.failed["NORMAL_TEMPORARY_FAILURE"] >= 15
    assert orig2.failed_total + orig2.answered == orig2.offered


async def test_unreachable_destination_fails_fast_at_full_rate(make, cluster) -> None:
    orig = make(rate=60, limit=5, dest_url="nobody@127.0.0.9:5080")
    offers = OfferLog(orig)
    with Watch(orig, cluster[0], node_check=False) as watch:
        orig.start()
        started = offers.now()
        await until(lambda: orig.offered >= 60, timeout=20)
        orig.stop()
        await orig.waitwhile(timeout=10)
    calls, span = offers.scheduled_between(started, math.inf)
    assert_rate(calls, span, 60, orig.max_burst)  # limit 5 never blocked it
    assert orig.failed == {"NORMAL_TEMPORARY_FAILURE": orig.offered}
    assert failure_kind("NORMAL_TEMPORARY_FAILURE") == "unreachable"
    assert orig.answered == orig.up == 0
    assert max(c for _, c, _, _ in watch.samples) <= 5


async def test_sps_limit_and_unloaded_app(make, cluster, caller) -> None:
    await caller.api("fsctl sps 10")
    orig = make(rate=40, limit=100, duration=0.2)
    loop = asyncio.get_running_loop()
    began = loop.time()
    orig.start()
    await pause(0.5)
    orig.stop()
    offering = loop.time() - began  # 0.5 s, more with SWITCHIO_LAB_TIME_SCALE
    await orig.waitwhile(timeout=2)
    # at most 10 sessions a second (FreeSWITCH's window is one second)
    assert orig.failed["SWITCH_CONGESTION"] >= 5
    assert orig.answered <= 10 * math.ceil(offering) + 1, (orig.answered, offering)
    await caller.api("fsctl sps 1000")

    class Quiet:
        @switchio.callback("CHANNEL_ANSWER")
        def on_answer(self, sess) -> None:
            pass

    orig2 = make(rate=40, limit=100, duration=0.2)
    await orig2.load_app(Quiet, "quiet")
    orig2.start()
    await pause(0.2)
    await orig2.app_manager.unload_app("quiet")  # gone while running: each call fails
    n = orig2.offered
    await pause(0.3)
    orig2.stop()
    await orig2.waitwhile(timeout=2)
    assert orig2.answered >= n - 1
    assert orig2.failed["APP_NOT_LOADED"] == orig2.offered - orig2.answered >= 8
    assert failure_kind("APP_NOT_LOADED") == "client"


# -- settings -----------------------------------------------------------------------------
async def test_settings_change_while_running(make, cluster) -> None:
    orig = make(rate=20, limit=1000, duration=math.inf)
    offers = OfferLog(orig)
    with Watch(orig, cluster[0]):
        orig.start()
        started = offers.now()
        await until(lambda: orig.offered >= 20, timeout=10)
        orig.rate = 80  # takes effect at once: re-anchored at the last offer
        changed = offers.now()
        await until(lambda: orig.offered >= changed[1] + 80, timeout=10)
        orig.limit = 10  # below the calls up: no new call until they fall below it
        limited = offers.now()
        n = orig.offered
        await pause(0.2)  # (nothing to wait for: nothing may happen)
        assert orig.offered == n and orig.concurrent > 10
        orig.duration = 0.1  # re-times the hangups of the calls up: they go now
        await until(lambda: orig.concurrent <= 10 and orig.offered > n, timeout=10)
        orig.stop()
        await orig.waitwhile(timeout=10)
    # each rate held from its anchor on, by the scheduler's own count (offered + skipped);
    # had the change been ignored, 20/s would give a quarter of the calls after it
    first, span1 = offers.scheduled_between(started, changed[0])
    assert_rate(first, span1, 20, orig.max_burst)
    second, span2 = offers.scheduled_between(changed, limited[0])
    assert second >= 80 and span2 > 0
    assert_rate(second, span2, 80, orig.max_burst)
    assert orig.failed_total == 0


async def test_invalid_settings_are_refused_and_change_nothing(make) -> None:
    orig = make(rate=10, limit=5)
    before = orig.settings()
    bad = [("rate", 0), ("rate", -3), ("rate", "fast"), ("rate", math.nan), ("rate", math.inf),
           ("rate", True), ("limit", 0), ("limit", 2.5), ("limit", math.inf), ("limit", None),
           ("duration", -1), ("duration", "long"), ("duration_offset", -0.5),
           ("max_offered", -1), ("max_offered", 1.5), ("dest_url", ""),
           ("dest_url", "a b@h"), ("profile", ""), ("proxy", 5), ("apps", {"nope": 1}),
           ("apps", [1, 2]), ("apps", {}.keys()), ("variables", {"a,b": 1}),
           ("variables", {"origination_uuid": "x"}), ("variables", {"switchio_app": "x"}),
           ("variables", {"profile": "internal"}), ("variables", ["x"])]
    for name, value in bad:
        with pytest.raises(ValueError, match=name.split("_")[0]):
            setattr(orig, name, value)
        assert orig.settings() == before, name
    # several at once: all or nothing
    with pytest.raises(ValueError, match="limit"):
        orig.configure(rate=99, limit=0)
    with pytest.raises(ValueError, match="unknown"):
        orig.configure(rate=99, speed=3)
    assert orig.settings() == before and orig.rate == 10
    with pytest.raises(ValueError):
        Originator(orig.pool, rate=-1)
    # valid changes; duration follows rate and limit until set, and again after None
    orig.configure(rate=20, limit=40)
    assert orig.duration == pytest.approx(40 / 20 + 1.0)
    orig.duration = 3
    orig.rate = 40
    assert orig.duration == 3 and not orig.auto_duration
    orig.duration = None
    assert orig.duration == pytest.approx(40 / 40 + 1.0)
    orig.max_offered = math.inf
    orig.max_offered = 7.0
    assert orig.max_offered == 7 and isinstance(orig.max_offered, int)
    no_dest = make(dest_url=None)
    with pytest.raises(ValueError, match="dest_url"):
        no_dest.start()


# -- apps and nodes -----------------------------------------------------------------------
class Answerer:
    """Answers the called legs it is given; counts them."""

    def __init__(self) -> None:
        self.calls = 0

    @switchio.callback("CHANNEL_PARK")
    def on_park(self, sess) -> None:
        if sess.is_inbound():
            self.calls += 1
            sess.answer()


class Answerer2(Answerer):
    pass


async def test_app_weights_and_round_robin_nodes(cluster) -> None:
    cluster[1].config.dialplan = [Rule(r".*", [("park", "")])]  # the apps answer
    orig = await get_originator(cluster, dest_url=f"load@{cluster[1].sip_address()}",
                                rate=200, limit=1000, duration=0.15, max_offered=200, seed=7)
    try:
        assert orig.service.running and len(orig.pool) == 2
        await orig.load_app(Answerer, "a", weight=3)
        await orig.load_app(Answerer2, "b", weight=1)
        assert orig.apps == {"a": 3, "b": 1}
        with Watch(orig):
            orig.start()
            await orig.waitwhile(timeout=5)
        assert orig.offered == orig.answered == orig.completed == 200
        by_app = orig.offered_by_app
        assert 0.65 <= by_app["a"] / 200 <= 0.85, by_app
        assert by_app["a"] + by_app["b"] == 200
        by_node = orig.stats()["offered_by_node"]
        assert by_node == {"127.0.0.1": 100, "127.0.0.2": 100}
        # the calls went to the apps they were drawn for (answered on node 2)
        answered = {app_id: sum(ns.calls for ns in orig.app_manager.instances(app_id).values())
                    for app_id in ("a", "b")}
        assert answered == {"a": by_app["a"], "b": by_app["b"]}
        # weights change at once; weight 0 takes an app out
        orig.apps = {"a": 0, "b": 1}
        orig.max_offered = 240
        orig.start()
        await orig.waitwhile(timeout=5)
        assert orig.offered_by_app["a"] == by_app["a"]
        assert orig.offered_by_app["b"] == by_app["b"] + 40
    finally:
        await orig.shutdown()
    assert not orig.service.running and not any(c.connected for c in orig.pool)


# -- stopping, observers, stalls ----------------------------------------------------------
async def test_hupall_and_shutdown_clean_up(make, cluster, caller) -> None:
    orig = make(rate=200, limit=20, duration=math.inf)
    with Watch(orig, cluster[0]):
        orig.start()
        await orig.waitwhile(lambda: orig.up < 20, timeout=2)
        await orig.hupall(timeout=3)
    assert orig.state == STOPPED and orig.concurrent == 0
    assert orig.answered == orig.completed == orig.offered >= 20
    assert not cluster[0].channels and not cluster[1].channels
    # again, and shut down with calls up
    orig.start()
    await orig.waitwhile(lambda: orig.up < 20, timeout=2)
    task = orig._task
    await orig.shutdown(timeout=3)
    assert task.done() and not orig._helpers and orig.concurrent == 0
    assert not cluster[0].channels and not cluster[1].channels
    with pytest.raises(RuntimeError, match="shut down"):
        orig.start()
    with pytest.raises(RuntimeError):
        orig.rate = 5
    await orig.shutdown()  # idempotent
    assert caller.connected  # not its client: left alone


async def test_observers_hear_states_settings_and_counters(make) -> None:
    seen = []
    orig = make(rate=100, limit=10, duration=0.1, max_offered=5)

    def broken(change) -> None:
        raise RuntimeError("observer bug")

    orig.on_change(broken)
    unsubscribe = orig.on_change(lambda c: seen.append((c.kind, c.name, c.old, c.new)))
    states = []
    orig.on_change(lambda c: states.append(c.new), kinds=["state"])
    orig.rate = 200
    orig.start()
    await orig.waitwhile(timeout=3)
    assert states == [ORIGINATING, STOPPED]
    assert ("setting", "rate", 100, 200) in seen
    assert ("setting", "duration", 0.1, 0.1) not in seen
    offered = [new for kind, name, _, new in seen if name == "offered"]
    assert offered == [1, 2, 3, 4, 5]
    assert [n for k, n, _, _ in seen if k == "stat"].count("completed") == 5
    unsubscribe()
    n = len(seen)
    orig.limit = 3
    assert len(seen) == n and states == [ORIGINATING, STOPPED]
    with pytest.raises(ValueError):
        orig.on_change(print, kinds=["everything"])
    # a derived duration follows rate and limit, and observers hear it
    auto = make(rate=10, limit=10)
    changes = []
    auto.on_change(lambda c: changes.append((c.name, c.old, c.new)), kinds=["setting"])
    auto.limit = 20
    auto.duration = 5
    auto.rate = 20  # the duration is set now: it stays
    assert changes == [("limit", 10, 20), ("duration", 2.0, 3.0), ("duration", 3.0, 5),
                       ("rate", 10, 20)]


async def test_a_stall_does_not_cause_a_burst(make) -> None:
    # each offer is stamped with the loop iteration it happened in (a callback that
    # re-schedules itself counts them), so "one synchronous pass" is exact, not a
    # wall-clock window that a busy machine stretches
    loop = asyncio.get_running_loop()
    iteration = [0]

    def tick() -> None:
        iteration[0] += 1
        ticker[0] = loop.call_soon(tick)

    ticker = [loop.call_soon(tick)]
    stamps: list[tuple[float, int]] = []
    orig = make(rate=100, limit=1000, duration=0.2)
    orig.on_change(lambda c: c.name == "offered"
                   and stamps.append((time.perf_counter(), iteration[0])))
    t_start = time.perf_counter()
    orig.start()
    await pause(0.3)
    time.sleep(0.5)  # the loop is blocked (a long synchronous cell): 50 calls fall due
    t_resume = time.perf_counter()
    await pause(0.3)
    orig.stop()
    ticker[0].cancel()
    due = (time.perf_counter() - t_start) * orig.rate  # calls that fell due meanwhile
    bound = max(orig.max_lag * orig.rate, orig.max_burst) + 1
    first = min(it for t, it in stamps if t >= t_resume)  # the catch-up pass's iteration
    burst = sum(1 for _, it in stamps if it == first)
    assert bound - 1 <= burst <= bound, burst  # caught up by the bound, no more
    skipped = orig.stats()["skipped"]
    assert skipped >= 30, skipped  # the rest of the stall is not made up
    # every call that fell due was offered or skipped (pause() scales with the machine)
    assert abs(orig.offered + skipped - due) <= 8, (orig.offered, skipped, due)
    await orig.waitwhile(timeout=3)


async def test_pool_and_clients_as_targets(cluster) -> None:
    clients = [switchio.Client(n.host, n.esl_port, reconnect=False) for n in cluster]
    pool = await NodePool(clients).connect()
    try:
        for target in (pool, clients):
            orig = Originator(target, dest_url=f"x@{cluster[1].sip_address()}", rate=100,
                              limit=50, duration=0.05, max_offered=10)
            assert orig.pool.names == ["127.0.0.1", "127.0.0.2"]
            orig.start()
            await orig.waitwhile(timeout=3)
            assert orig.completed == 10
            assert orig.stats()["offered_by_node"] == {"127.0.0.1": 5, "127.0.0.2": 5}
            await orig.shutdown()
        with pytest.raises(TypeError):
            Originator(42)
        with pytest.raises(ValueError, match="empty"):
            Originator(NodePool())
    finally:
        await pool.disconnect()


async def test_hupall_ends_ringing_calls_and_a_huge_rate_stays_bounded(make, cluster) -> None:
    cluster[1].config.dialplan = [Rule(r".*", [("park", "")])]  # rings, nobody answers
    orig = make(rate=100, limit=5)
    orig.start()
    await orig.waitwhile(lambda: orig.active < 5, timeout=2)
    assert orig.up == 0 and orig.offered == 5
    await orig.hupall(timeout=3)
    # hung up by the Originator before an answer: cancelled, not failed
    assert orig.concurrent == 0 and orig.answered == 0
    assert (orig.failed_total, orig.cancelled) == (0, 5), orig.stats()
    assert not cluster[0].channels and not cluster[1].channels

    cluster[1].config.dialplan = list(ANSWER)
    fast = make(rate=100_000, limit=30, duration=0.05)
    with Watch(fast, cluster[0]) as watch:
        fast.start()
        await pause(0.5)
        fast.stop()
        await fast.waitwhile(timeout=3)
    assert fast.peak_concurrent == 30 and fast.completed == fast.offered > 30
    assert watch.stalled < scaled(0.25), watch.stalled  # the loop kept running


async def test_no_burst_after_a_reconnect(make, cluster) -> None:
    """Calls falling due while the node is down are skipped, never queued for the
    reconnect (which released them all at once: 16 within 0.5 s at 2 calls/s)."""
    node = cluster[0]
    client = switchio.Client(node.host, node.esl_port, reconnect=True)
    client.connection.backoff = (0.05, 0.2)
    await client.connect()
    try:
        rate = 2.0
        orig = make(client, rate=rate, limit=100, duration=0.5)
        log = OfferLog(orig)
        loop = asyncio.get_running_loop()
        sent: list[float] = []  # every originate as it is written to the switch
        client.connection.on_command(
            lambda req, reply: reply is None and req.name == "bgapi originate"
            and sent.append(loop.time()))
        states: list[tuple[str, float]] = []
        client.connection.on_state(lambda state, conn: states.append((state, loop.time())))
        orig.start()
        await until(lambda: orig.answered >= 2)
        await node.stop()  # the ESL goes away, and with it the connection
        await until(lambda: not client.connected)
        down = log.now()
        await pause(3.0)  # 6 calls fall due meanwhile
        await node.start()
        await until(lambda: client.connected)
        back = next(t for state, t in states if state == "reconnected")
        await until(lambda: len([t for t in sent if t >= back]) >= 4, timeout=scaled(6))
        orig.stop()

        after = [t for t in sent if t >= back]
        for window in (0.5, 1.0):
            worst = max(sum(1 for u in after if t <= u < t + window) for t in after)
            assert worst <= rate * window + 1, (window, worst, [u - back for u in after])
        stats = orig.stats()
        assert stats["skipped_disconnected"] >= 4, stats  # the outage's calls: skipped
        assert stats["skipped"] >= stats["skipped_disconnected"]
        # the schedule went on through the outage: offered + skipped is the rate's worth
        dealt, span = log.scheduled_between(down, loop.time())
        assert_rate(dealt, span, rate, orig.max_burst)
        # every call offered is accounted for
        assert stats["offered"] == (stats["answered"] + stats["failed_total"] + stats["lost"]
                                    + stats["active"])
        await orig.waitwhile(timeout=scaled(5))
    finally:
        await client.disconnect()
