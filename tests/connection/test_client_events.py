"""Event delivery: callbacks by name, failing callbacks, async streams, a slow consumer,
and the BACKGROUND_JOB subscription bgapi needs."""

from __future__ import annotations

import asyncio
import logging

import pytest
from fake_server import plain_event, scripted_server, standard_reply
from helpers import Recorder

from switchio_lab.connection import ConnectionLost, InboundClient
from switchio_lab.esl import Command, Event, replies
from switchio_lab.testing import scaled

UUID = "0b4d2e87-92ec-41b3-bc5c-93a456c2da3d"

MIXED = [
    plain_event("CHANNEL_CREATE", Unique_ID=UUID),
    plain_event("CHANNEL_ANSWER", Unique_ID=UUID),
    plain_event("CUSTOM", Event_Subclass="sofia::register"),
    plain_event("CUSTOM", Event_Subclass="conference::maintenance"),
    plain_event("HEARTBEAT"),
    plain_event("BACKGROUND_JOB", "+OK\n", Job_UUID="not-ours"),
]


def numbered(n: int) -> list[Event]:
    names = ["CHANNEL_CREATE", "CHANNEL_STATE", "CUSTOM"]
    return [plain_event(names[i % 3], Event_Sequence=i, Event_Subclass="lab::seq")
            for i in range(n)]


def firing(events: list[Event], command: str = "api fire"):
    """A ScriptedServer reply: ``command`` is answered by ``events`` then an api reply."""
    frames = b"".join(e.to_frame() for e in events)

    def reply(cmd: Command, index: int) -> bytes | None:
        if cmd.line == command:
            return frames + replies.api_response("+OK fired")
        return standard_reply(cmd, index)

    return reply


def client_for(port: int, **kwargs) -> InboundClient:
    return InboundClient("127.0.0.1", port, reconnect=False, timeout=2.0, **kwargs)


def seq(events) -> list[int]:
    return [int(e["Event-Sequence"]) for e in events]


# --- callbacks ------------------------------------------------------------------------------


async def test_on_event_by_name_and_custom_subclass():
    async with scripted_server(firing(MIXED)) as server:
        client = client_for(server.port)
        got: dict[str, list[str]] = {}

        def collect(key: str):
            got[key] = []
            return lambda e: got[key].append(e.subclass or e.name)

        everything = collect("all")
        assert client.on_event(everything) is everything
        client.on_event(collect("ALL"), "ALL")
        client.on_event(collect("create"), "CHANNEL_CREATE")
        client.on_event(collect("spaced"), "CHANNEL_ANSWER HEARTBEAT")
        client.on_event(collect("args"), "CHANNEL_ANSWER", "HEARTBEAT")
        client.on_event(collect("subclass"), "sofia::register")
        client.on_event(collect("custom"), "CUSTOM")
        client.on_event(collect("none"), "CHANNEL_HANGUP")
        removed = collect("removed")
        client.on_event(removed, "CHANNEL_CREATE")
        client.remove_callback(removed)

        await client.connect()
        assert await client.api("fire") == "+OK fired"  # events came first, same read
        await client.close()

    every = ["CHANNEL_CREATE", "CHANNEL_ANSWER", "sofia::register", "conference::maintenance",
             "HEARTBEAT", "BACKGROUND_JOB"]
    assert got == {
        "all": every,
        "ALL": every,
        "create": ["CHANNEL_CREATE"],
        "spaced": ["CHANNEL_ANSWER", "HEARTBEAT"],
        "args": ["CHANNEL_ANSWER", "HEARTBEAT"],
        "subclass": ["sofia::register"],
        "custom": ["sofia::register", "conference::maintenance"],
        "none": [],
        "removed": [],
    }
    assert client.stats.events_in == len(MIXED)


async def test_failing_callbacks_are_logged_counted_and_do_not_stop_delivery(caplog):
    async with scripted_server(firing(MIXED)) as server:
        client = client_for(server.port)
        seen: list[str] = []

        def bad_event(event: Event) -> None:
            raise RuntimeError(f"boom on {event.name}")

        def bad_frame(frame) -> None:
            if frame.content_type == "api/response":
                raise ValueError("frame boom")

        def bad_state(state: str, conn) -> None:
            raise KeyError(state)

        client.on_event(bad_event)
        client.on_event(lambda e: seen.append(e.name))
        client.on_frame(bad_frame)
        client.on_state(bad_state)
        stream = client.events()
        with caplog.at_level(logging.ERROR, logger="switchio_lab.connection"):
            await client.connect()  # the state callback fails on "connected"
            assert await client.api("fire") == "+OK fired"  # the frame callback fails on it
            assert await client.api("fire") == "+OK fired"
        assert seen == [e.name for e in MIXED] * 2
        assert len(stream) == 2 * len(MIXED)
        assert client.stats.callback_errors == 2 * len(MIXED) + 2 + 1
        failures = [r for r in caplog.records if r.exc_info]
        assert len(failures) == client.stats.callback_errors
        assert any("event callback" in r.getMessage() and "CHANNEL_CREATE" in r.getMessage()
                   for r in failures)
        assert any(isinstance(r.exc_info[1], RuntimeError) for r in failures)
        assert any(isinstance(r.exc_info[1], ValueError) for r in failures)
        assert any(isinstance(r.exc_info[1], KeyError) for r in failures)
        assert client.connected
        await client.close()


# --- async streams --------------------------------------------------------------------------


async def test_event_streams_deliver_in_order_and_end_on_close():
    events = numbered(60)
    async with scripted_server(firing(events)) as server:
        client = client_for(server.port)
        await client.connect()
        everything = client.events()
        custom = client.events("lab::seq")  # CUSTOM events, by subclass
        states = client.events("CHANNEL_STATE")
        with pytest.raises(asyncio.TimeoutError):
            await everything.get(timeout=0.05)
        async with client.events() as scoped:
            assert await client.api("fire") == "+OK fired"
            assert len(scoped) == 60
        scoped.close()  # again: harmless
        assert scoped.closed is False and len(scoped) == 60  # drained, then it ends
        assert seq([e async for e in scoped]) == list(range(60))
        assert scoped.closed

        received = []
        async for event in everything:
            received.append(event)
            if len(received) == 60:
                break
        assert seq(received) == list(range(60))
        assert seq([await custom.get(timeout=1) for _ in range(20)]) == list(range(2, 60, 3))
        assert seq([await states.get(timeout=1) for _ in range(20)]) == list(range(1, 60, 3))

        # closing the connection ends every stream: iteration stops, get() raises
        pending = asyncio.ensure_future(everything.__anext__())
        await asyncio.sleep(0)
        await client.close()
        with pytest.raises(StopAsyncIteration):
            await asyncio.wait_for(pending, scaled(1))
        assert [e async for e in custom] == []
        with pytest.raises(ConnectionLost):
            await states.get(timeout=1)


async def test_slow_consumer_drops_not_blocks(caplog):
    flood = numbered(1000)
    async with scripted_server(firing(flood, "api flood")) as server:
        client = client_for(server.port)
        counted: list[Event] = []
        client.on_event(counted.append)
        await client.connect()
        slow = client.events(maxsize=100)  # never read while the flood comes
        fast = client.events()  # the default queue is large
        with caplog.at_level(logging.WARNING, logger="switchio_lab.connection"):
            assert await asyncio.wait_for(client.api("flood"), scaled(2)) == "+OK fired"
            assert await client.api("status") == "api:status"  # still reading
        assert len(counted) == 1000  # callbacks got every event
        assert len(slow) == 100
        assert slow.dropped == 900
        assert client.stats.dropped == 900
        assert fast.dropped == 0 and len(fast) == 1000
        messages = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert any("falling behind" in m for m in messages)
        drops = [m for m in messages if "dropped" in m]
        assert drops and any("dropped 900" in m or "dropped 512" in m for m in drops)
        assert len(drops) <= 12  # a few, never one per event

        slow.close()
        kept = [e async for e in slow]
        assert seq(kept) == list(range(100))  # the oldest are kept, the newest dropped
        assert slow.closed
        fast.close()
        assert seq([e async for e in fast]) == list(range(1000))
        await client.close()


# --- bgapi needs BACKGROUND_JOB -------------------------------------------------------------------


def with_jobs(fmt_of: dict[str, str] | None = None):
    """standard_reply, plus the BACKGROUND_JOB of each bgapi in the same write, in the
    format last subscribed (``fmt_of["fmt"]``)."""
    state = fmt_of if fmt_of is not None else {}

    def reply(cmd: Command, index: int) -> bytes | None:
        if cmd.name == "event":
            state["fmt"] = cmd.args.split()[0]
        out = standard_reply(cmd, index)
        if cmd.name == "bgapi":
            result = plain_event("BACKGROUND_JOB", "+OK done\n", Job_UUID=cmd.headers["Job-UUID"],
                                 Job_Command=cmd.args)
            out = (out or b"") + result.to_frame(state.get("fmt", "plain"))
        return out

    return reply


def lines(server, index: int = 0) -> list[str]:
    return [c.line for c in server.log[index]]


async def test_bgapi_subscribes_background_job_when_needed():
    async with scripted_server(with_jobs()) as server:
        client = client_for(server.port)
        await client.connect()
        first = await client.bgapi("status")
        second = await client.bgapi("version")
        assert [await first.wait(scaled(1)), await second.wait(scaled(1))] == ["+OK done\n"] * 2
        assert lines(server) == [
            "auth ClueCon", "event plain BACKGROUND_JOB", "bgapi status", "bgapi version"]
        # the subscription is the client's own: not shown as the user's
        assert client.event_names == set()
        assert client.subscriptions.own_names == {"BACKGROUND_JOB"}

        # after noevents the subscription is gone: the next bgapi asks again
        await client.noevents()
        assert await (await client.bgapi("status")).wait(scaled(1)) == "+OK done\n"
        assert lines(server)[-3:] == ["noevents", "event plain BACKGROUND_JOB", "bgapi status"]
        await client.close()


async def test_bgapi_does_not_subscribe_when_all_events_come():
    async with scripted_server(with_jobs()) as server:
        client = client_for(server.port)
        await client.connect()
        await client.subscribe("ALL")
        assert await (await client.bgapi("status")).wait(scaled(1)) == "+OK done\n"
        assert lines(server) == ["auth ClueCon", "event plain ALL", "bgapi status"]
        await client.close()


async def test_bgapi_uses_the_connection_event_format():
    state: dict[str, str] = {}
    async with scripted_server(with_jobs(state)) as server:
        client = client_for(server.port)
        await client.connect()
        await client.subscribe("CHANNEL_CREATE", format="json")
        job = await client.bgapi("status")
        assert await job.wait(scaled(1)) == "+OK done\n"
        assert job.event is not None and job.event.format == "json"
        assert lines(server) == ["auth ClueCon", "event json CHANNEL_CREATE",
                                 "event json BACKGROUND_JOB", "bgapi status"]
        await client.close()


async def test_bgapi_lets_background_job_through_filters():
    async with scripted_server(with_jobs()) as server:
        client = client_for(server.port)
        rec = Recorder(client)
        await client.connect()
        await client.filter("Unique-ID", UUID)
        assert await (await client.bgapi("status")).wait(scaled(1)) == "+OK done\n"
        assert await (await client.bgapi("version")).wait(scaled(1)) == "+OK done\n"
        assert lines(server) == [
            "auth ClueCon", f"filter Unique-ID {UUID}", "event plain BACKGROUND_JOB",
            "filter Event-Name BACKGROUND_JOB", "bgapi status", "bgapi version"]

        # all filters deleted, a new one added: the job filter must come back with it
        await client.filter_delete("all")
        await client.filter("Unique-ID", "another")
        assert await (await client.bgapi("status")).wait(scaled(1)) == "+OK done\n"
        assert lines(server)[-4:] == [
            "filter delete all", "filter Unique-ID another",
            "filter Event-Name BACKGROUND_JOB", "bgapi status"]
        # the user's filters are the user's; the job filter is the client's own
        assert client.filters == [("Unique-ID", "another")]
        assert client.subscriptions.server_filters == [
            ("Unique-ID", "another"), ("Event-Name", "BACKGROUND_JOB")]
        # the user subscribed to nothing: the job results are the jobs', not the user's
        assert rec.names == []
        await client.close()


async def test_on_event_as_a_decorator_and_streams_after_close():
    """``@client.on_event("NAME")`` registers; a stream made after close ends at once."""
    from switchio_lab.connection import InboundClient
    from switchio_lab.esl import Event

    seen: list[str] = []
    client = InboundClient("127.0.0.1", 1)

    @client.on_event("CHANNEL_ANSWER")
    def answered(event: Event) -> None:
        seen.append(event.name)

    @client.on_event
    def everything(event: Event) -> None:
        seen.append("all:" + event.name)

    client._deliver(Event.from_headers({"Event-Name": "CHANNEL_ANSWER"}))
    client._deliver(Event.from_headers({"Event-Name": "CHANNEL_HANGUP"}))
    assert seen == ["CHANNEL_ANSWER", "all:CHANNEL_ANSWER", "all:CHANNEL_HANGUP"]
    await client.close()
    stream = client.events()
    assert [e async for e in stream] == []
