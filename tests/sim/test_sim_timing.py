"""FreeSWITCH's timing on the embedded switch (issue 10): the caller's answer->park window
(``call_answer_race``), the coarse event clock and ``show channels`` lagging the events
(the fixtures README's "Timing an emulator should reproduce")."""

from __future__ import annotations

import asyncio

import pytest

from switchio_lab.connection import InboundClient
from switchio_lab.esl import Event
from switchio_lab.sim import Node, NodeConfig
from switchio_lab.testing import pause, scaled, until

pytestmark = pytest.mark.asyncio

TONE = "tone_stream://%(251,0,1004);loops=-1"


async def started(**options) -> Node:
    return await Node(NodeConfig(esl_port=0, hostname="timing", **options)).start()


async def test_the_defaults_are_freeswitchs() -> None:
    """On by default, with the README's numbers: park one 20 ms tick after the caller's
    answer, a 20 ms clock, show channels ~85 ms behind CREATE and ~170 ms behind DESTROY."""
    c = NodeConfig()
    assert (c.answer_park_delay, c.clock_tick) == (0.02, 0.02)
    assert (c.show_channels_add, c.show_channels_drop) == (0.085, 0.17)


async def _call_playing_at(client: InboundClient, node: Node, trigger: str
                           ) -> tuple[str, list[Event]]:
    """Originate to the node itself; on the callee's park answer it; on the caller's
    ``trigger`` event (CHANNEL_ANSWER or CHANNEL_PARK) send it a playback at once, as the
    capture's client did. Returns the caller's uuid and every event heard."""
    events: list[Event] = []
    caller = "race-0001"
    loop = asyncio.get_running_loop()
    tasks: list[asyncio.Task] = []

    def on(ev: Event) -> None:
        events.append(ev)
        if ev.name == "CHANNEL_PARK" and ev["Call-Direction"] == "inbound":
            tasks.append(loop.create_task(client.api(f"uuid_answer {ev.uuid}")))
        if ev.name == trigger and ev.uuid == caller:
            tasks.append(loop.create_task(client.execute("playback", TONE, caller,
                                                         event_uuid="pb-1")))
    client.on_event(on)
    await client.subscribe("ALL")
    job = await client.bgapi(f"originate {{origination_uuid={caller}}}"
                             f"sofia/external/race@{node.sip_address('external')} &park()")
    assert (await job.wait(scaled(3))).startswith("+OK")
    await until(lambda: any(e.name == "CHANNEL_EXECUTE_COMPLETE" and e.uuid == caller
                            and e["Application"] == "playback" for e in events)
                or any(e.name == "PLAYBACK_START" and e.uuid == caller for e in events))
    await until(lambda: any(e.name == "CHANNEL_PARK" and e.uuid == caller for e in events))
    await asyncio.gather(*tasks)
    return caller, events


async def test_a_playback_sent_at_the_callers_answer_fails_as_on_freeswitch(connect) -> None:
    """``call_answer_race``: the playback runs in CS_CONSUME_MEDIA and ends PLAYBACK ERROR
    without PLAYBACK_START; only then the caller's ``&park()`` starts, and the call stays
    up, parked and silent. (The window is widened so a loaded machine's client is in it.)"""
    node = await started(answer_park_delay=scaled(0.5))
    try:
        client = await connect(node)
        caller, events = await _call_playing_at(client, node, "CHANNEL_ANSWER")
        lane = [e for e in events if e.uuid == caller]
        names = [e.name for e in lane]
        execute = next(e for e in lane if e.name == "CHANNEL_EXECUTE"
                       and e["Application"] == "playback")
        done = next(e for e in lane if e.name == "CHANNEL_EXECUTE_COMPLETE"
                    and e["Application"] == "playback")
        assert execute["Channel-State"] == "CS_CONSUME_MEDIA"
        assert execute["Application-UUID"] == "pb-1"
        assert done["Application-Response"] == "PLAYBACK ERROR"
        assert "PLAYBACK_START" not in names
        i = lane.index(done)
        assert names[i + 1:i + 5] == ["PRIVATE_COMMAND", "CHANNEL_STATE", "CHANNEL_EXECUTE",
                                      "CHANNEL_PARK"]
        assert lane[i + 2]["Channel-State"] == "CS_EXECUTE"
        assert lane[i + 3]["Application"] == "park"
        assert names.index("CHANNEL_ANSWER") < lane.index(execute)
        assert node.channels[caller].state == "CS_EXECUTE"  # still up, parked
        await client.api(f"uuid_kill {caller}")
        await until(lambda: not node.channels)
    finally:
        await node.stop()


async def test_a_playback_sent_at_the_callers_park_plays(connect) -> None:
    """The correct form: on the caller's CHANNEL_PARK its media is ready."""
    node = await started(answer_park_delay=scaled(0.5))
    try:
        client = await connect(node)
        caller, events = await _call_playing_at(client, node, "CHANNEL_PARK")
        await until(lambda: any(e.name == "PLAYBACK_START" and e.uuid == caller
                                for e in events))
        start = next(e for e in events if e.name == "PLAYBACK_START" and e.uuid == caller)
        assert start["Playback-File-Path"] == TONE
        assert start["Channel-State"] == "CS_EXECUTE"
        await client.api(f"uuid_kill {caller}")
        await until(lambda: not node.channels)
    finally:
        await node.stop()


async def test_event_timestamps_move_in_clock_ticks(connect) -> None:
    """Event-Date-Timestamp (and the Caller-Channel-*-Time stamps) are FreeSWITCH's
    cached clock: distinct values differ by whole 20 ms ticks, events of one tick share
    one value, and a channel's answered time is the timestamp of its CHANNEL_ANSWER."""
    node = await started()
    try:
        client = await connect(node)
        caller, events = await _call_playing_at(client, node, "CHANNEL_PARK")
        await client.api(f"uuid_kill {caller}")
        await until(lambda: not node.channels)
        await pause(0.05)
        stamps = sorted({int(e["Event-Date-Timestamp"]) for e in events})
        assert len(stamps) < len(events) / 3  # most events share their tick's value
        assert all((b - a) % 20_000 == 0 for a, b in zip(stamps, stamps[1:], strict=False))
        answers = [e for e in events if e.name == "CHANNEL_ANSWER"]
        for e in answers:
            assert int(e["Caller-Channel-Answered-Time"]) % 20_000 == stamps[0] % 20_000
        done = [e for e in events if e.name == "CHANNEL_HANGUP_COMPLETE"]
        assert len(done) == 2
        for e in done:
            assert int(e["variable_answer_uepoch"]) % 20_000 == stamps[0] % 20_000
            assert int(e["variable_billusec"]) % 20_000 == 0
            assert int(e["variable_billusec"]) >= 0 and int(e["variable_answerusec"]) >= 0
    finally:
        await node.stop()


async def test_clock_tick_zero_gives_exact_times(connect) -> None:
    node = await started(clock_tick=0)
    try:
        client = await connect(node)
        await client.subscribe("CUSTOM lab::tick")
        got: list[Event] = []
        client.on_event(got.append)
        for _ in range(3):
            await client.sendevent("CUSTOM", {"Event-Subclass": "lab::tick"})
        await until(lambda: len(got) == 3)
        stamps = {int(e["Event-Date-Timestamp"]) for e in got}
        assert len(stamps) == 3  # three events, three microsecond times
    finally:
        await node.stop()


async def _count(client: InboundClient) -> int:
    body = await client.api("show channels count")
    return int(body.split()[0])


async def test_show_channels_lags_create_and_destroy(connect) -> None:
    """``show_channels_lag``: the core database lists a new call's legs tens of ms after
    their CHANNEL_CREATE, both in the same poll, and keeps them listed for a while after
    their CHANNEL_DESTROY. (Lags widened so a loaded machine's polls fall inside them.)"""
    node = await started(show_channels_add=scaled(0.6), show_channels_drop=scaled(0.6))
    try:
        client = await connect(node)
        events: list[Event] = []
        client.on_event(events.append)
        await client.subscribe("CHANNEL_CREATE CHANNEL_PARK CHANNEL_DESTROY")
        await client.bgapi(f"originate {{origination_uuid=lag-1}}"
                           f"sofia/external/lag@{node.sip_address('external')} &park()")
        await until(lambda: sum(e.name == "CHANNEL_CREATE" for e in events) == 2)
        assert await _count(client) == 0  # created, not yet listed
        counts: list[int] = []

        async def listed(n: int) -> bool:
            counts.append(await _count(client))
            return counts[-1] == n
        while not await listed(2):
            await asyncio.sleep(0.01)
        assert set(counts) <= {0, 2}  # both legs come in the same batch
        assert await client.api("uuid_kill lag-1") == "+OK\n"
        await until(lambda: sum(e.name == "CHANNEL_DESTROY" for e in events) == 2)
        assert not node.channels
        assert await _count(client) == 2  # gone, still listed
        counts.clear()
        while not await listed(0):
            await asyncio.sleep(0.01)
        assert set(counts) <= {0, 2}
    finally:
        await node.stop()


async def test_show_channels_without_lag_lists_channels_as_they_are(connect) -> None:
    node = await started(show_channels_add=0, show_channels_drop=0)
    try:
        client = await connect(node)
        parked = asyncio.get_running_loop().create_future()
        client.on_event(lambda e: parked.done() or parked.set_result(e), "CHANNEL_PARK")
        await client.subscribe("CHANNEL_PARK")
        await client.bgapi(f"originate {{origination_uuid=lag-2}}"
                           f"sofia/external/lag@{node.sip_address('external')} &park()")
        await asyncio.wait_for(parked, scaled(3))
        assert await _count(client) == 2
        await client.api("uuid_kill lag-2")
        await until(lambda: not node.channels)
        assert await _count(client) == 0
    finally:
        await node.stop()
