"""Hot-swapping an app under one id while 100+ calls are in flight.

Every call is placed from the embedded node to its own SIP address, so both of its legs
(caller and callee) are seen by the one client. The apps record, for every event they
receive, (version, uuid, event name); the connection's own view of the same events is
recorded beside them, so a dropped or doubled dispatch shows as a count mismatch.
"""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import pytest

import switchio_lab as switchio
from switchio_lab.sim import Node, NodeConfig
from switchio_lab.testing import scaled, until

#: the events the recording apps take (every channel event of the call's life)
NAMES = ("CHANNEL_CREATE", "CHANNEL_ORIGINATE", "CHANNEL_STATE", "CHANNEL_CALLSTATE",
         "CHANNEL_EXECUTE", "CHANNEL_PARK", "CHANNEL_ANSWER", "CHANNEL_HANGUP",
         "CHANNEL_HANGUP_COMPLETE", "CHANNEL_DESTROY")


@dataclass
class Log:
    """What every version of the app saw, in order."""

    records: list[tuple[int, str, str, str]] = field(default_factory=list)  # v, call, uuid, name
    setups: Counter[int] = field(default_factory=Counter)
    teardowns: Counter[int] = field(default_factory=Counter)
    live: Counter[int] = field(default_factory=Counter)  # sessions created - destroyed
    live_at_teardown: dict[int, int] = field(default_factory=dict)
    order: list[tuple[str, int]] = field(default_factory=list)  # ("event"|"teardown", v)
    stale_create: list[str] = field(default_factory=list)  # first leg not on the current v
    between_legs: list[str] = field(default_factory=list)  # swapped between the two legs
    on_retired: int = 0  # events dispatched to a version no longer current
    answered_by: Counter[int] = field(default_factory=Counter)


class RecordingApp:
    """Base of the versions: subclasses get one recording callback per event name."""

    version = 0
    log: Log

    def prepost(self, client):  # single-yield generator: setup, then teardown
        self.client = client
        self.log.setups[self.version] += 1
        yield
        self.log.live_at_teardown[self.version] = self.log.live[self.version]
        self.log.teardowns[self.version] += 1
        self.log.order.append(("teardown", self.version))

    def current(self) -> int:
        return self.client.listener.apps["swap"].ns.version

    def seen(self, sess, name: str) -> None:
        log, v = self.log, self.version
        log.records.append((v, sess.call.uuid, sess.uuid, name))
        log.order.append(("event", v))
        if self.current() != v:
            log.on_retired += 1
        if name == "CHANNEL_CREATE":
            log.live[v] += 1
            if sess.is_outbound() and self.current() != v:
                log.stale_create.append(sess.uuid)  # a new call must get the current version
            if sess.is_inbound() and self.current() != v:
                log.between_legs.append(sess.uuid)
        elif name == "CHANNEL_DESTROY":
            log.live[v] -= 1
        elif name == "CHANNEL_ANSWER" and sess.is_outbound():
            sess.sched_hangup(int(sess["variable_hold_ms"]) / 1000)

    @switchio.coroutine("CHANNEL_PARK")
    async def answer_callee(self, sess) -> None:
        if sess.is_inbound():
            await sess.answer()
            self.log.answered_by[self.version] += 1


def make_version(version: int, log: Log) -> type:
    """A new app class (new code) for ``version``."""
    ns: dict[str, object] = {"version": version, "log": log}
    for name in NAMES:
        def on_event(self, sess, _name=name) -> None:
            self.seen(sess, _name)
        ns[f"on_{name.lower()}"] = switchio.callback(name)(on_event)
    return type(f"RecorderV{version}", (RecordingApp,), ns)


@pytest.fixture
async def node():
    # the far leg appears 30 ms after the first: a swap can land between the two
    node = await Node(NodeConfig(esl_port=0, hostname="hotswap", invite_delay=0.03)).start()
    yield node
    await node.stop()


@pytest.fixture
async def client(node):
    client = switchio.Client(node.host, node.esl_port, reconnect=False)
    await client.connect()
    yield client
    await client.disconnect()


async def test_swaps_under_load_keep_every_call_on_its_version(node, client) -> None:
    log = Log()
    listener = client.listener
    versions = {}
    next_version = iter(range(1, 1000))

    async def swap() -> None:
        v = next(next_version)
        cls = make_version(v, log)
        if v % 2:  # both spellings of a hot-swap
            await client.reload_app(cls, "swap")
        else:
            await client.load_app(cls, "swap", replace=True)
        versions[v] = listener.apps["swap"]

    await swap()

    # the connection's own view: per leg, its events from CHANNEL_CREATE to CHANNEL_DESTROY
    wire: Counter[tuple[str, str]] = Counter()
    alive: set[str] = set()
    created = 0
    peak = 0
    tasks = []

    def on_wire(event) -> None:
        nonlocal created, peak
        name, uuid = event.name, event.uuid
        if name == "CHANNEL_CREATE":
            alive.add(uuid)
            if event.get("Call-Direction") == "outbound":
                created += 1
                if created % 10 == 0:  # swap while this call's far leg is on its way
                    tasks.append(asyncio.ensure_future(swap()))
        if uuid in alive and name in NAMES:
            wire[uuid, name] += 1
        if name == "CHANNEL_DESTROY":
            alive.discard(uuid)
        peak = max(peak, listener.count_calls())

    client.connection.on_event(on_wire)  # after the listener's own callback

    jobs = []
    dest = f"hotswap@{node.sip_address()}"
    for batch in range(3):  # every call stays up 0.6-0.9 s after it is answered
        jobs += await asyncio.gather(*(
            client.originate(dest, app_id="swap", hold_ms=600 + (i % 7) * 50)
            for i in range(40 * batch, 40 * batch + 40)))
        await swap()  # and swaps between batches, from the caller's side
    results = await asyncio.gather(*(job.wait(scaled(10)) for job in jobs))
    assert all(r.startswith("+OK") for r in results), Counter(r.strip() for r in results)
    await until(lambda: listener.count_calls() == 0 and not listener.sessions, timeout=scaled(10))
    await asyncio.gather(*tasks)
    current = listener.apps["swap"].ns.version
    # every replaced version was torn down when its last call ended, the current one not
    assert {v: log.teardowns[v] for v in versions} == {
        v: int(v != current) for v in versions}
    await client.unload_app("swap")  # the last version has no call left: tears down now

    assert peak >= 100, f"only {peak} calls were in flight at once"
    assert listener.handler_errors == 0

    # every call: both legs, every event, on one version
    by_call: dict[str, set[int]] = defaultdict(set)
    legs: dict[str, set[str]] = defaultdict(set)
    app_counts: Counter[tuple[str, str]] = Counter()
    for v, call, uuid, name in log.records:
        by_call[call].add(v)
        legs[call].add(uuid)
        app_counts[uuid, name] += 1
    assert len(by_call) == 120
    assert all(len(vs) == 1 for vs in by_call.values()), {
        c: vs for c, vs in by_call.items() if len(vs) > 1}
    assert all(len(uuids) == 2 for uuids in legs.values())
    used = Counter(next(iter(vs)) for vs in by_call.values())
    # calls were spread over several versions (how many depends on how the swaps, which
    # run as tasks, interleave with call set-up: on a loaded 2-core machine 7 of 14 were
    # seen, so only a spread is required, not a count that load can break)
    assert len(used) >= 3, used

    # new calls got the current version; swaps landed between the legs of some calls
    assert log.stale_create == []
    assert len(log.between_legs) >= 5, log.between_legs
    assert log.on_retired > 0  # calls in progress kept running on replaced code

    # no event dropped, none dispatched twice
    assert app_counts == wire
    assert sum(wire.values()) > 120 * 2 * 10

    # prepost: set up once per version, torn down exactly once, after its last call ended
    assert set(log.setups) == set(versions) and set(log.setups.values()) == {1}
    assert log.teardowns == log.setups
    assert set(log.live_at_teardown.values()) == {0}
    for v in versions:
        torn = log.order.index(("teardown", v))
        assert ("event", v) not in log.order[torn:], f"v{v} got events after its teardown"
        if v in used and v != current:  # torn down right after its last call's last event
            assert log.order[torn - 1] == ("event", v)
        assert versions[v].calls == 0 and versions[v].retired
    assert sum(log.answered_by.values()) == 120  # the coroutine of each call's version ran
    assert set(log.answered_by) == set(used)


async def test_far_leg_joins_the_version_of_its_call() -> None:
    """Deterministic: the swap happens after the first leg appeared, before the second."""
    log = Log()
    slow = await Node(NodeConfig(esl_port=0, hostname="slow",
                                 invite_delay=0.2)).start()
    try:
        c = switchio.Client(slow.host, slow.esl_port, reconnect=False)
        await c.connect()
        await c.load_app(make_version(1, log), "swap")
        v1 = c.listener.apps["swap"]
        job = await c.originate(f"x@{slow.sip_address()}", app_id="swap", hold_ms=100)
        await until(lambda: job.session is not None)
        caller = job.session
        assert caller.app is v1 and c.listener.count_sessions() == 1
        await c.reload_app(make_version(2, log), "swap")  # the far leg is 0.2 s away
        v2 = c.listener.apps["swap"]
        assert log.teardowns[1] == 0  # v1 still has a call
        await until(lambda: c.listener.count_sessions() == 2)
        callee = caller.call.get_peer(caller)
        assert callee is not None and callee.app is v1 and callee.call is caller.call
        assert caller.call.app is v1 and v1.calls == 1 and v2.calls == 0
        assert log.between_legs == [callee.uuid]
        # a call placed now belongs to v2, while the first is still up
        job2 = await c.originate(f"y@{slow.sip_address()}", app_id="swap", hold_ms=100)
        await until(lambda: job2.session is not None)
        assert job2.session.app is v2
        assert (await job.wait(scaled(5))).startswith("+OK")
        await until(lambda: log.teardowns[1] == 1, timeout=scaled(5))
        assert log.live_at_teardown[1] == 0 and caller.destroyed and callee.destroyed
        assert log.teardowns[2] == 0
        await until(lambda: c.listener.count_calls() == 0, timeout=scaled(5))
        assert log.teardowns[2] == 0  # still current: torn down on unload only
        await c.unload_app("swap")
        assert log.teardowns[2] == 1
        await c.disconnect()
    finally:
        await slow.stop()
