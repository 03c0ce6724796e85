"""Await semantics of sessions: answer, hangup, recv, timeouts, SessionEnded, fire-and-forget."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

import switchio_lab as switchio
from switchio_lab import SessionEnded
from switchio_lab.testing import scaled, until


async def place(client, node, **kwargs):
    """A call from the node to itself: (job, caller leg, callee leg, parked unanswered)."""
    job = await client.originate(f"callee@{node.sip_address()}", **kwargs)
    await until(lambda: job.session is not None and len(job.session.call.sessions) == 2)
    caller = job.session
    return job, caller, caller.call.get_peer(caller)


async def test_answer_resumes_on_answer(client, sim_node) -> None:
    job, caller, callee = await place(client, sim_node)
    assert callee.is_inbound() and not callee.answered and job.waiting
    event = await callee.answer()
    assert event.name == "CHANNEL_ANSWER" and event.uuid == callee.uuid
    assert callee.answered and callee.answer_time is not None
    assert (await job.wait(scaled(2))).startswith("+OK")  # the caller hears the answer
    await until(lambda: caller.answered)
    assert await callee.answer() is None  # already answered: nothing to wait for
    assert callee._waiters.get("CHANNEL_ANSWER", []) == []


async def test_hangup_resumes_once_the_session_is_gone(client, sim_node) -> None:
    job, caller, callee = await place(client, sim_node)
    await callee.answer()
    await job.wait(scaled(2))
    await caller.hangup()
    assert caller.hungup and caller.destroyed and caller.cause == "NORMAL_CLEARING"
    assert caller.uuid not in client.listener.sessions
    await until(lambda: callee.destroyed)  # the far leg follows
    assert await caller.hangup() is None  # gone already: no command, no error
    assert await callee.hangup("USER_BUSY") is None
    assert client.listener.count_calls() == 0


async def test_recv_playback_stop_subscribes_and_waits_for_the_tone(client, sim_node) -> None:
    job, caller, callee = await place(client, sim_node)
    await callee.answer()
    await job.wait(scaled(2))
    # the caller's media is ready once its &park() runs, a tick after its answer (as on
    # FreeSWITCH: a playback before that fails, see tests/sim/test_sim_timing.py)
    await until(lambda: sim_node.channels[caller.uuid].current_app == "park")
    conn = client.connection
    assert "PLAYBACK_STOP" not in conn.event_names
    start = time.monotonic()
    await caller.playback("tone_stream://%(200,0,500)")
    event = await caller.recv("PLAYBACK_STOP", timeout=scaled(3))
    assert time.monotonic() - start >= 0.18  # the tone played for its duration
    assert event.uuid == caller.uuid
    assert event["Playback-File-Path"] == "tone_stream://%(200,0,500)"
    assert "PLAYBACK_STOP" in conn.event_names  # subscribed on demand
    assert caller["Playback-File-Path"] == "tone_stream://%(200,0,500)"  # latest headers
    # a second playback: already subscribed, no hang either
    await caller.playback("tone_stream://%(100,0,500)")
    assert (await caller.recv("PLAYBACK_STOP", timeout=scaled(3))).uuid == caller.uuid
    await client.hupall()


async def test_every_wait_has_a_timeout(client, sim_node) -> None:
    job, caller, callee = await place(client, sim_node)
    start = time.monotonic()
    with pytest.raises(asyncio.TimeoutError, match=f"no DTMF for session {callee.uuid}"):
        await callee.recv("DTMF", timeout=0.2)
    assert 0.18 <= time.monotonic() - start < scaled(2.0)  # fired, and not after 10x
    assert callee._waiters.get("DTMF") == []  # the timed-out waiter is not kept
    await until(lambda: "DTMF" in client.connection.event_names)
    with pytest.raises(asyncio.TimeoutError):
        await callee.poll(["DTMF", "PLAYBACK_START"], timeout=0.1)
    with pytest.raises(asyncio.TimeoutError):
        await client.listener.waitfor(callee, "never", timeout=0.1)
    with pytest.raises(asyncio.TimeoutError):
        await job.wait(scaled(0.1))  # the callee never answers
    assert job.waiting
    await client.hupall()


async def test_waits_fail_with_session_ended(client, sim_node) -> None:
    job, caller, callee = await place(client, sim_node)
    stop = asyncio.ensure_future(callee.recv("PLAYBACK_STOP"))
    polled = asyncio.ensure_future(callee.poll(["DTMF", "CHANNEL_BRIDGE"]))
    varwait = client.listener.waitfor(callee, "never", timeout=scaled(5))
    await asyncio.sleep(scaled(0.05))  # let the three waits start
    await client.api(f"uuid_kill {callee.uuid} CALL_REJECTED")
    with pytest.raises(SessionEnded) as info:
        await asyncio.wait_for(stop, scaled(2))
    message = str(info.value)
    assert callee.uuid in message and "PLAYBACK_STOP" in message
    assert "CALL_REJECTED" in message
    with pytest.raises(SessionEnded):
        await asyncio.wait_for(polled, scaled(2))
    with pytest.raises(SessionEnded):
        await varwait
    with pytest.raises(SessionEnded, match="has ended"):  # waiting on a gone session
        await callee.recv("CHANNEL_ANSWER")
    assert (await job.wait(scaled(2))).startswith("-ERR")


class FireAndForget:
    """Control methods called from plain callbacks, never awaited."""

    @switchio.callback("CHANNEL_PARK")
    def on_park(self, sess) -> None:
        if sess.is_inbound():
            sess.setvar("handled_by", "fire_and_forget")
            sess.answer()
            sess.execute("no_such_app")  # fails: the error must be logged
            sess.api("uuid_bogus {uuid}")  # fails too


async def test_control_from_plain_callbacks_works_and_errors_are_logged(
        client, sim_node, caplog) -> None:
    caplog.set_level(logging.ERROR, logger="switchio_lab")
    await client.load_app(FireAndForget, "ff")
    job, caller, callee = await place(client, sim_node, app_id="ff")
    assert (await job.wait(scaled(2))).startswith("+OK")
    await until(lambda: callee.answered and caller.answered)
    assert await callee.getvar("handled_by") == "fire_and_forget"
    await until(lambda: len(caplog.records) >= 2)
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "no_such_app" in text and "invalid application" in text
    assert "uuid_bogus" in text
    for record in caplog.records:
        assert callee.uuid in record.getMessage() and "app ff" in record.getMessage()
    await client.hupall()


async def test_waiters_fail_when_the_connection_closes_for_good(sim_node, connect) -> None:
    """With reconnect off, a closed connection ends every tracked session's waits."""
    import asyncio

    import pytest

    import switchio_lab as switchio

    client = switchio.Client(sim_node.host, sim_node.esl_port, reconnect=False)
    await client.connect()
    job = await client.originate(f"lost@{sim_node.sip_address()}")
    await until(lambda: job.session is not None)
    sess = job.session
    assert sess is not None
    waiting = asyncio.ensure_future(sess.recv("CHANNEL_ANSWER", timeout=scaled(30)))
    await until(lambda: sess._waiters.get("CHANNEL_ANSWER"))
    for listener in list(sim_node.listeners):
        listener.transport.abort()
    with pytest.raises(switchio.SessionEnded, match="connection closed"):
        await asyncio.wait_for(waiting, scaled(3))
    assert sess.lost and client.listener.count_sessions() == 0
