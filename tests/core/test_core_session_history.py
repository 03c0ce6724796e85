"""What a session keeps of its events: the latest one, the first one's identity headers
and the values read from earlier ones by default; its history only when asked (issue 16)."""

from __future__ import annotations

from switchio_lab import callback
from switchio_lab.core.session import IDENTITY_HEADERS
from switchio_lab.testing import scaled, until


async def place(client, node):
    job = await client.originate(f"callee@{node.sip_address()}")
    await until(lambda: job.session is not None and len(job.session.call.sessions) == 2)
    caller = job.session
    return job, caller, caller.call.get_peer(caller)


class Keeper:
    """An app asking each of its sessions to keep its last 5 events."""

    keep_events = 5

    def __init__(self) -> None:
        self.answered = 0

    @callback("CHANNEL_ANSWER")
    def on_answer(self, sess) -> None:
        self.answered += 1


async def test_a_session_keeps_its_latest_event_only_by_default(client, sim_node) -> None:
    job, caller, callee = await place(client, sim_node)
    assert caller.identity["Unique-ID"] == caller.uuid and set(caller.identity) <= set(
        IDENTITY_HEADERS)
    assert caller.identity["Call-Direction"] == "outbound"
    await callee.answer()
    await job.wait(scaled(2))
    # parked on the switch (CS_EXECUTE), past the answer's CS_CONSUME_MEDIA window: media can
    # play (this listener is not subscribed to CHANNEL_PARK: no app asked for it)
    await until(lambda: caller.answered and sim_node.find(caller.uuid).state == "CS_EXECUTE")
    assert [e.name for e in caller.events] == [caller.event.name]  # one event: the latest
    assert caller.get("No-Such-Header") is None and "No-Such-Header" not in caller
    assert caller.get("No-Such-Header", "x") == "x"
    await caller.playback("tone_stream://%(100,0,500)")
    stop = await caller.recv("PLAYBACK_STOP", timeout=scaled(3))
    assert caller["Playback-File-Path"] == stop["Playback-File-Path"]  # read: merged view
    await caller.hangup()
    assert caller.event.name == "CHANNEL_DESTROY" and caller.cause == "NORMAL_CLEARING"
    # values read from earlier events stay readable after later events lack them
    assert caller["Playback-File-Path"] == "tone_stream://%(100,0,500)"
    assert caller.direction == "outbound" and caller.uuid == caller.identity["Unique-ID"]


async def test_history_is_kept_when_the_listener_asks(client, sim_node) -> None:
    client.listener.keep_events = 3
    job, caller, callee = await place(client, sim_node)
    await callee.answer()
    await job.wait(scaled(2))
    await caller.hangup()
    names = [e.name for e in caller.events]
    assert len(names) == 3 and names[-1] == "CHANNEL_DESTROY"  # bounded, oldest first
    caller.keep_events(0)
    assert [e.name for e in caller.events] == ["CHANNEL_DESTROY"]


async def test_history_is_kept_when_the_app_asks(client, sim_node) -> None:
    await client.load_app(Keeper)
    job, caller, callee = await place(client, sim_node)
    await callee.answer()
    await job.wait(scaled(2))
    await caller.hangup()
    await until(lambda: callee.destroyed)
    for sess in (caller, callee):
        names = [e.name for e in sess.events]
        assert len(names) == 5 and names[-1] == "CHANNEL_DESTROY"
        # with history, a header of an earlier kept event is found without having been read
        assert sess.get("Answer-State") is not None
