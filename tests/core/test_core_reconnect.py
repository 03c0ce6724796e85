"""The connection drops in the middle of calls: the listener re-synchronises its sessions.

The embedded node drops the client (its server-side transports are aborted); while the
client is away calls end and new ones start, unseen. Once reconnected, the listener
asks ``show channels as json``: sessions still up are kept, those gone are marked lost,
and channels it never saw are adopted.
"""

from __future__ import annotations

import asyncio

import pytest

import switchio_lab as switchio
from switchio_lab import SessionEnded
from switchio_lab.connection import ConnectionLost, InboundClient
from switchio_lab.testing import scaled, until


class Tracker:
    """Answers the far leg; records every DESTROY it is given; counts its teardown."""

    def __init__(self) -> None:
        self.destroyed: list[str] = []
        self.teardowns = 0

    def prepost(self):
        yield
        self.teardowns += 1

    @switchio.callback("CHANNEL_PARK")
    def on_park(self, sess) -> None:
        if sess.is_inbound() and sess.get("variable_sip_h_X-leave_parked") is None:
            sess.answer()

    @switchio.callback("CHANNEL_DESTROY")
    def on_destroy(self, sess) -> None:
        self.destroyed.append(sess.uuid)


@pytest.fixture
async def client(sim_node):
    # the first reconnect attempt comes 0.25-0.75 s after the drop: time to act meanwhile
    conn = InboundClient(sim_node.host, sim_node.esl_port, reconnect=True, backoff=(0.5, 1.0))
    client = switchio.Client(sim_node.host, sim_node.esl_port, connection=conn)
    await client.connect()
    yield client
    await client.disconnect()


async def place(client, node, app_id, parked=False):
    """A call from the node to itself; (job, [caller, callee])."""
    extra = {"sip_h_X-leave_parked": "yes"} if parked else {}
    job = await client.originate(f"callee@{node.sip_address()}", app_id=app_id, **extra)
    if not parked:
        assert (await job.wait(scaled(3))).startswith("+OK")
    await until(lambda: job.session is not None and len(job.session.call.sessions) == 2)
    return job, list(job.session.call.sessions)


async def drop(client, node) -> None:
    """The switch drops the client's connection; returns once the client noticed."""
    for listener in list(node.listeners):
        listener.transport.abort()
    await until(lambda: not client.connection.connected)


async def kill(node, sessions) -> None:
    """Hang up channels on the switch itself and wait until they are destroyed."""
    chans = [node.find(s.uuid) for s in sessions]
    for ch in chans:
        ch.hangup("NORMAL_CLEARING")
    await asyncio.gather(*(asyncio.shield(ch.destroyed) for ch in chans))


async def test_sessions_are_resynchronised_after_a_reconnect(client, sim_node) -> None:
    app = Tracker()
    await client.load_app(app, "rc")
    listener = client.listener
    _, call_a = await place(client, sim_node, "rc")
    _, call_b = await place(client, sim_node, "rc")
    job_c, call_c = await place(client, sim_node, "rc", parked=True)  # job still waiting
    assert listener.count_calls() == 3 and listener.count_jobs() == 1
    waiting = asyncio.ensure_future(call_a[0].recv("DTMF", timeout=10))
    polling = asyncio.ensure_future(call_a[1].poll(["DTMF"], timeout=10))

    await drop(client, sim_node)
    # the bgapi job in flight is lost with the connection; the listener stops waiting
    with pytest.raises(ConnectionLost):
        await job_c.wait(scaled(1))
    assert listener.count_jobs() == 0 and listener.lost_jobs == 1
    # meanwhile, on the switch: call A ends, call D starts (tagged for app "rc")
    await kill(sim_node, call_a)
    d = "d0000000-0000-4000-8000-000000000000"
    originate_d = asyncio.ensure_future(sim_node.api.execute(
        f"originate {{origination_uuid={d},switchio_app=rc,sip_h_X-switchio_app=rc,"
        f"switchio_call={d},sip_h_X-switchio_call={d},sip_h_X-leave_parked=yes}}"
        f"sofia/external/dee@{sim_node.sip_address()} &park()"))
    await until(lambda: len(sim_node.channels) == 6)
    assert not client.connection.connected  # all of that happened unseen
    assert listener.count_calls() == 3  # the listener does not know yet

    await until(lambda: listener.resyncs == 1, timeout=scaled(3))
    result = listener.resync_task.result()
    assert client.connection.stats.reconnects == 1

    # call A: lost
    assert sorted(result["lost"]) == sorted(s.uuid for s in call_a)
    for sess in call_a:
        assert sess.lost and sess.hungup and sess.destroyed
        assert sess.uuid not in listener.sessions
    assert call_a[0].call.uuid not in listener.calls
    with pytest.raises(SessionEnded, match="lost"):
        await waiting
    with pytest.raises(SessionEnded, match="lost"):
        await polling
    assert listener.lost_sessions == 2
    assert app.destroyed == []  # no event came for them: the app was not told

    # calls B and C: kept and refreshed
    assert sorted(result["kept"]) == sorted(s.uuid for s in call_b + call_c)
    for sess in call_b + call_c:
        assert listener.sessions[sess.uuid] is sess and not sess.lost
        assert sess.events[-1].name == "CHANNEL_DATA"  # the refresh, from its row
        assert sess["Channel-State"] == sim_node.find(sess.uuid).state
    assert [s.answered for s in call_c] == [False, False]

    # call D: adopted, on its app, both legs in one call
    dlegs = [listener.sessions[u] for u in result["adopted"]]
    assert len(dlegs) == 2 and d in result["adopted"]
    assert {s.call for s in dlegs} == {dlegs[0].call} and dlegs[0].call.uuid == d
    assert all(s.appname == "rc" for s in dlegs)
    assert listener.count_calls() == 3 and listener.apps["rc"].calls == 3

    # the adopted and kept sessions are controllable, and their events are tracked
    callee_d = next(s for s in dlegs if s.is_inbound())
    await callee_d.answer()
    assert (await asyncio.wait_for(originate_d, scaled(3))).startswith("+OK")
    await call_b[0].hangup()
    await until(lambda: {s.uuid for s in call_b} <= set(app.destroyed))
    await client.hupall()
    await until(lambda: listener.count_calls() == 0 and not listener.sessions)
    assert set(app.destroyed) == {s.uuid for s in call_b + call_c + dlegs}
    assert listener.apps["rc"].calls == 0 and app.teardowns == 0


async def test_a_retired_version_tears_down_when_its_last_call_is_lost(
        client, sim_node) -> None:
    old, new = Tracker(), Tracker()
    await client.load_app(old, "rc")
    _, call = await place(client, sim_node, "rc")
    await client.reload_app(new, "rc")
    assert old.teardowns == 0 and call[0].app.ns is old
    await drop(client, sim_node)
    await kill(sim_node, call)
    await until(lambda: client.listener.resyncs == 1, timeout=scaled(3))
    result = client.listener.resync_task.result()
    assert sorted(result["lost"]) == sorted(s.uuid for s in call)
    assert result["kept"] == result["adopted"] == []
    assert old.teardowns == 1 and new.teardowns == 0
    assert client.listener.count_calls() == 0
    # the new version takes new calls as usual
    _, call2 = await place(client, sim_node, "rc")
    assert call2[0].app.ns is new
    await client.hupall()
    await until(lambda: client.listener.count_calls() == 0)
    assert set(new.destroyed) == {s.uuid for s in call2}


async def test_lost_sessions_are_told_to_on_lost(client, sim_node) -> None:
    """Whoever accounts for every leg (the CDR) hears of the legs that end unseen."""
    app = Tracker()
    await client.load_app(app, "rc")
    listener = client.listener
    told: list[tuple[str, str, bool]] = []
    remove = listener.on_lost(lambda sess, why: told.append((sess.uuid, why, sess.lost)))
    listener.on_lost(lambda sess, why: 1 / 0)  # a failing one harms nothing
    _, lost_call = await place(client, sim_node, "rc")
    _, kept_call = await place(client, sim_node, "rc")
    errors = listener.handler_errors

    await drop(client, sim_node)
    await kill(sim_node, lost_call)
    await until(lambda: listener.resyncs == 1, timeout=scaled(3))
    assert sorted(u for u, _, _ in told) == sorted(s.uuid for s in lost_call)
    assert {why for _, why, _ in told} == {"lost: it ended while the connection was down"}
    assert all(lost for _, _, lost in told)
    assert listener.handler_errors == errors + 2

    # a session that ends as usual is not lost; after remove() nothing more is told
    remove()
    await client.hupall()
    await until(lambda: listener.count_calls() == 0)
    assert len(told) == 2 and set(app.destroyed) == {s.uuid for s in kept_call}
