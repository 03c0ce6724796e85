"""The inbound client against golden FreeSWITCH transcripts, replayed over loopback TCP.

Each test drives the client with exactly the commands of the capture's ``send`` side
(uuids learned from events are waited for, as a real application would), then checks
that the server saw those commands and that the client delivered what FreeSWITCH sent:
every event in order, reply texts, api bodies verbatim, job results.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
from fake_server import ReplayServer, scripted_server
from helpers import Recorder, Transcript, assert_same_commands, reply_value

from switchio_lab.connection import (
    ApiError,
    AuthenticationError,
    CommandError,
    Connection,
    InboundClient,
    Job,
)
from switchio_lab.connection.connection import _Wire
from switchio_lab.esl import API_RESPONSE, COMMAND_REPLY, LOG_DATA, Command, commands, replies
from switchio_lab.testing import scaled


@contextlib.asynccontextmanager
async def replayed(t: Transcript, **kwargs) -> AsyncIterator[tuple[ReplayServer, InboundClient,
                                                                    Recorder]]:
    """A ReplayServer for ``t`` and a connected client (no reconnect: one conversation)."""
    async with ReplayServer(t.entries) as srv:
        client = InboundClient("127.0.0.1", srv.port, reconnect=False, timeout=2.0,
                               connect_timeout=2.0, **kwargs)
        rec = Recorder(client)
        await client.connect()
        try:
            yield srv, client, rec
        finally:
            await client.close()
    assert srv.connections == 1


def inbound_park(event) -> bool:
    return event.name == "CHANNEL_PARK" and event.get("Call-Direction") == "inbound"


async def say_goodbye(client: InboundClient, rec: Recorder) -> None:
    """``exit`` by hand (not close()) so the final disconnect-notice is read too."""
    assert await client.command(commands.exit()) == "+OK bye"
    await rec.wait_state("closed")
    assert client.disconnect_notice is not None
    assert client.disconnect_notice.text == replies.GOODBYE
    assert not client.connected


# --- one call: plain, JSON, XML, X-headers ------------------------------------------------------


@pytest.mark.parametrize("name, fmt, kill_cause", [
    ("call_basic", "plain", " NORMAL_CLEARING"),
    ("call_json", "json", " NORMAL_CLEARING"),
    ("call_xml", "xml", " NORMAL_CLEARING"),
    ("call_xheaders", "plain", ""),
])
async def test_one_call(fixtures_dir, name, fmt, kill_cause):
    t = Transcript.load(fixtures_dir, name)
    originate = t.sends[2]
    assert originate.name == "bgapi"
    # call_xheaders let FreeSWITCH pick the Job-UUID: reuse the one it picked
    job_uuid = originate.headers.get("Job-UUID") or t.replies[2].headers["Job-UUID"]

    async with replayed(t) as (srv, client, rec):
        assert await client.subscribe("ALL", format=fmt) == f"+OK event listener enabled {fmt}"
        job = await client.bgapi(originate.args, job_uuid=job_uuid)
        assert job.uuid == job_uuid

        callee = await rec.wait(inbound_park)
        assert await client.api(f"uuid_answer {callee.uuid}") == "+OK\n"

        result = await job.wait(scaled(2))
        assert result == t.job_results[job_uuid]
        assert job.success is True and job.cause is None
        caller = job.uuid_created
        assert caller and caller != callee.uuid
        assert job.event is not None and job.event.format == fmt

        assert await client.api(f"uuid_kill {caller}{kill_cause}") == "+OK\n"
        for uuid in (caller, callee.uuid):
            await rec.wait(lambda e, u=uuid: e.name == "CHANNEL_DESTROY" and e.uuid == u)
        await say_goodbye(client, rec)

    assert_same_commands(srv.commands, t.sends)
    assert rec.names == t.event_names
    assert rec.events == t.events  # same headers and bodies, in order
    assert {e.format for e in rec.events} == {fmt}
    assert client.stats.events_in == len(t.events)
    assert client.stats.frames_in == len(t.frames)
    assert rec.states == ["connected", "closed"]

    if name == "call_xheaders":  # switchio tags both legs of a call with its app id
        answers = {e.uuid: e for e in rec.events if e.name == "CHANNEL_ANSWER"}
        a, b = answers[caller], answers[callee.uuid]
        assert a["variable_switchio_app"] == "lab"
        assert a["variable_sip_h_X-Lab-Trace"] == b["variable_sip_h_X-Lab-Trace"] == "t-42"
        assert b["variable_sip_h_X-switchio_app"] == "lab"
        assert "variable_switchio_app" not in b
        assert b["Caller-Caller-ID-Number"] == "1112223333"


# --- media: sendmsg execute with event-lock / Event-UUID, log frames, uuid_dump -------------------


async def test_call_media(fixtures_dir):
    t = Transcript.load(fixtures_dir, "call_media")
    originate = t.sends[2]
    job_uuid = originate.headers["Job-UUID"]
    tone_uuid = "11111111-0000-4000-8000-000000000001"
    api_bodies = [f.text for f in t.replies if f.content_type == API_RESPONSE]

    async with replayed(t) as (srv, client, rec):
        logs = []
        client.on_frame(lambda f: logs.append(f) if f.content_type == LOG_DATA else None)
        await client.subscribe("ALL")
        job = await client.bgapi(originate.args, job_uuid=job_uuid)

        b = (await rec.wait(inbound_park)).uuid
        assert await client.execute("answer", uuid=b, event_lock=True) == "+OK"
        a = (await job.wait(scaled(2))).split()[1]
        await rec.wait(lambda e: e.name == "CHANNEL_PARK" and e.uuid == a)
        # pipelined, as in the capture: both are written before either reply is read
        level, rec_start = await asyncio.gather(
            client.log(7), client.api(f"uuid_record {a} start /tmp/rec.wav"))
        assert (level, rec_start) == ("+OK log level 7 [7]", "+OK Success\n")

        await rec.wait(lambda e: e.name == "RECORD_START" and e.uuid == a)
        assert await client.execute("playback", "tone_stream://%(300,100,1004);loops=3", b,
                                    event_lock=True, event_uuid=tone_uuid) == "+OK"
        done = await rec.wait(lambda e: e.name == "CHANNEL_EXECUTE_COMPLETE"
                              and e.get("Application-UUID") == tone_uuid)
        assert done["Application"] == "playback" and done.uuid == b

        assert await client.api(f"uuid_send_dtmf {a} 12#") == f"+OK {a} sent DTMF 12#.\n"
        await rec.wait(lambda e: e.name == "DTMF" and e.uuid == b)
        assert await client.execute("send_dtmf", "9*", b) == "+OK"
        await rec.wait(lambda e: e.name == "DTMF" and e.uuid == a)
        assert await asyncio.gather(client.api(f"uuid_setvar {b} lab_var hello"),
                                    client.api(f"uuid_getvar {b} lab_var")) == ["+OK\n", "hello"]
        assert await client.api(f"uuid_record {a} stop all") == "+OK Success\n"
        assert await asyncio.gather(
            client.nolog(),
            client.api(f"uuid_broadcast {a} tone_stream://%(200,0,800) aleg"),
        ) == ["+OK no longer logging", "+OK Message sent\n"]
        await rec.wait(lambda e: e.name == "CHANNEL_EXECUTE_COMPLETE" and e.uuid == a
                       and e.get("Application") == "playback")
        dump, channels = await asyncio.gather(client.api(f"uuid_dump {b}"),
                                              client.api("show channels"))
        calls, hung = await asyncio.gather(client.api("show calls"), client.hangup(b))
        assert hung == "+OK"
        for uuid in (a, b):
            await rec.wait(lambda e, u=uuid: e.name == "CHANNEL_HANGUP_COMPLETE" and e.uuid == u)
        await say_goodbye(client, rec)

    assert_same_commands(srv.commands, t.sends)
    # api/response bodies verbatim: uuid_dump is "Key: value" lines that are NOT headers
    assert [dump, channels, calls] == api_bodies[-3:]
    assert dump.startswith("Event-Name: CHANNEL_DATA\n") and len(dump.encode()) == 6425
    assert f"Unique-ID: {b}\n" in dump
    assert rec.names == t.event_names
    assert rec.events == t.events
    # log/data frames reached on_frame, all of them, in order, body and headers intact
    assert len(logs) == len(t.logs) == 109
    assert [(f.headers, f.body) for f in logs] == [(f.headers, f.body) for f in t.logs]
    assert {f.headers["Log-Level"] for f in logs} <= {str(n) for n in range(8)}
    # frame callbacks see no events, but every other frame (replies, logs, the goodbye)
    assert not any(f.is_event for f in rec.frames)
    assert len(rec.frames) == len(t.frames) - len(t.events)
    stop = next(e for e in rec.events if e.name == "CHANNEL_HANGUP_COMPLETE" and e.uuid == a)
    assert "variable_rtp_audio_in_media_packet_count" in stop


# --- bridge -----------------------------------------------------------------------------------


async def test_call_bridge(fixtures_dir):
    t = Transcript.load(fixtures_dir, "call_bridge")
    originate, bridge = t.sends[2], t.sends[3]
    target = bridge.headers["execute-app-arg"]

    async with replayed(t) as (srv, client, rec):
        await client.subscribe("ALL")
        job = await client.bgapi(originate.args, job_uuid=originate.headers["Job-UUID"])
        proxy = (await rec.wait(inbound_park)).uuid
        mark = rec.mark()
        assert await client.execute("bridge", target, proxy) == "+OK"
        far = (await rec.wait(inbound_park, since=mark)).uuid
        assert far != proxy
        assert await client.api(f"uuid_answer {far}") == "+OK\n"
        caller = (await job.wait(scaled(2))).split()[1]
        bridged = await rec.wait(lambda e: e.name == "CHANNEL_BRIDGE" and e.uuid == proxy)
        assert bridged["Other-Leg-Unique-ID"] != proxy
        await rec.wait(lambda e: e.name == "CHANNEL_PARK" and e.uuid == caller)
        calls, killed = await asyncio.gather(client.api("show calls"),
                                             client.api(f"uuid_kill {caller}"))
        assert killed == "+OK\n"
        destroyed = set()
        while len(destroyed) < 4:
            e = await rec.wait(lambda e: e.name == "CHANNEL_DESTROY" and e.uuid not in destroyed)
            destroyed.add(e.uuid)
        await say_goodbye(client, rec)

    assert_same_commands(srv.commands, t.sends)
    assert calls == next(f.text for f in t.replies if f.text.startswith("uuid,direction"))
    assert calls.endswith("\n\n3 total.\n")
    assert rec.names == t.event_names
    assert rec.events == t.events
    assert {"CHANNEL_BRIDGE", "CHANNEL_UNBRIDGE"} <= set(rec.names)
    assert len({e.uuid for e in rec.events if e.name == "CHANNEL_CREATE"}) == 4


# --- failures: bgapi jobs that end in -ERR <cause> ------------------------------------------------


async def test_call_failures(fixtures_dir):
    t = Transcript.load(fixtures_dir, "call_failures")
    bgapis = [c for c in t.sends if c.name == "bgapi"]
    assert len(bgapis) == 5

    async with replayed(t) as (srv, client, rec):
        await client.subscribe("ALL")

        async def originate(cmd: Command) -> Job:
            return await client.bgapi(cmd.args, job_uuid=cmd.headers["Job-UUID"])

        # 1: the callee answers "486 busy"
        mark = rec.mark()
        busy = await originate(bgapis[0])
        callee = (await rec.wait(inbound_park, since=mark)).uuid
        assert await client.execute("respond", "486", callee) == "+OK"
        # 2: nobody answers within originate_timeout; 3: a user that is not registered;
        # 4: a SIP peer that does not exist
        results = [busy]
        for cmd in bgapis[1:4]:
            await results[-1].wait(scaled(2))
            results.append(await originate(cmd))
        await results[-1].wait(scaled(2))
        # 5: the caller is killed before anyone answers
        mark = rec.mark()
        cancel = await originate(bgapis[4])
        await rec.wait(inbound_park, since=mark)
        caller = bgapis[4].args.split("origination_uuid=")[1].split(",")[0]
        assert await client.api(f"uuid_kill {caller} ORIGINATOR_CANCEL") == "+OK\n"
        await cancel.wait(scaled(2))
        results.append(cancel)
        await say_goodbye(client, rec)

    assert_same_commands(srv.commands, t.sends)
    assert [job.cause for job in results] == [
        "USER_BUSY", "NO_ANSWER", "USER_NOT_REGISTERED", "NORMAL_TEMPORARY_FAILURE",
        "ORIGINATOR_CANCEL"]
    for job in results:
        assert job.success is False
        assert job.uuid_created is None
        assert job.result == t.job_results[job.uuid] == f"-ERR {job.cause}\n"
        assert job.event is not None and job.event["Job-UUID"] == job.uuid
    assert rec.names == t.event_names
    assert rec.events == t.events
    hangups = [e for e in rec.events if e.name == "CHANNEL_HANGUP"]
    assert {e["Hangup-Cause"] for e in hangups} >= {"USER_BUSY", "NO_ANSWER",
                                                   "ORIGINATOR_CANCEL"}


# --- myevents twice, linger, the linger notice ---------------------------------------------------


async def test_myevents_linger(fixtures_dir):
    t = Transcript.load(fixtures_dir, "myevents_linger")
    uuid = t.sends[1].args  # the session was created on another connection
    async with replayed(t) as (srv, client, rec):
        lingering_at_notice = []
        client.on_state(lambda state, c: lingering_at_notice.append(c.lingering)
                        if state == "linger" else None)
        assert await client.myevents(uuid) == "+OK Events Enabled"
        with pytest.raises(CommandError) as info:
            await client.myevents(uuid)
        assert info.value.reply == "-ERR aready enabled."
        assert info.value.command == f"myevents {uuid}"
        assert await client.linger(3) == "+OK will linger 3 seconds"
        await rec.wait_state("closed")  # FreeSWITCH closes once the linger time is over

    assert_same_commands(srv.commands, t.sends)
    assert rec.names == t.event_names
    assert rec.events == t.events
    assert {e.uuid for e in rec.events} == {uuid}
    assert rec.states == ["connected", "linger", "closed"]
    assert lingering_at_notice == [True]
    assert client.lingering is True
    notice = client.disconnect_notice
    assert notice is not None
    assert notice.headers["Content-Disposition"] == "disconnect"
    assert notice.headers["Controlled-Session-UUID"] == uuid
    assert notice.text == replies.GOODBYE
    linger = [f for f in rec.frames if f.headers.get("Content-Disposition") == "linger"]
    assert len(linger) == 1 and linger[0].headers["Linger-Time"] == "3"


# --- every command and its reply ------------------------------------------------------------------


def _client_call(client: InboundClient, cmd: Command, reply):
    """The client API call that writes ``cmd`` (an awaitable)."""
    name, args = cmd.name, cmd.args
    words = args.split()
    if name == "event":
        return client.subscribe(*words[1:], format=words[0])
    if name == "nixevent":
        return client.unsubscribe(*words)
    if name == "noevents":
        return client.noevents()
    if name == "filter" and words[:1] == ["delete"]:
        return client.filter_delete(*words[1:])
    if name == "filter" and len(words) == 2:
        return client.filter(*words)
    if name == "myevents":
        return client.myevents(*words)
    if name == "linger":
        return client.linger(*(int(w) for w in words))
    if name == "nolinger":
        return client.nolinger()
    if name == "divert_events":
        return client.divert_events(words == ["on"])
    if name == "log":
        return client.log(int(words[0]))
    if name == "nolog":
        return client.nolog()
    if name == "api":
        # -ERR/-USAGE bodies: unknown commands are returned as is, originate failures
        # are asked to raise (check=True)
        return client.api(args, check=args.startswith("originate"))
    if name == "bgapi":  # FreeSWITCH's choice of Job-UUID when the capture had none
        return client.bgapi(args, job_uuid=cmd.headers.get("Job-UUID")
                            or reply.headers["Job-UUID"])
    if name == "sendmsg" and cmd.headers["call-command"] == "execute":
        return client.execute(cmd.headers["execute-app-name"],
                              cmd.headers.get("execute-app-arg", ""), args or None)
    if name == "sendevent":
        return client.sendevent(args, {k: v for k, v in cmd.headers.items()})
    return client.command(commands.command(cmd.line))  # a bare "filter", an unknown command


async def test_commands(fixtures_dir):
    t = Transcript.load(fixtures_dir, "commands")
    sends = t.sends
    assert sends[0].line == "auth ClueCon" and sends[-1].line == "exit"
    results: dict[str, object] = {}
    jobs: list[Job] = []

    async with replayed(t) as (srv, client, rec):
        for i, cmd in enumerate(sends[1:-1], start=1):
            reply = t.reply_for(i)
            try:
                got = await _client_call(client, cmd, reply)
            except CommandError as exc:
                got = exc
            results[cmd.line] = got
            if isinstance(got, Job):
                assert reply.headers["Job-UUID"] == got.uuid
                jobs.append(got)
            elif cmd.name == "api" and reply.content_type == API_RESPONSE:
                if cmd.args.startswith("originate"):  # check=True
                    assert isinstance(got, ApiError), cmd.line
                    assert got.reply == reply.text.strip()
                else:
                    assert got == reply.text, cmd.line  # verbatim, -ERR bodies too
            elif reply_value(reply).startswith("-ERR"):
                assert isinstance(got, CommandError) and not isinstance(got, ApiError), cmd.line
                assert got.reply == reply_value(reply)
                assert got.command == cmd.line
            else:
                assert got == reply_value(reply), cmd.line
        # exit: close() says it
    assert_same_commands(srv.commands, sends)

    # a few that matter, spelled out
    assert results["api hostname"] == "vm"
    assert results["api eval ${hostname}"] == "vm"
    assert results["api bogus_command_xyz arg"] == "-ERR bogus_command_xyz Command not found!\n"
    assert results["api uuid_exists 00000000-0000-0000-0000-000000000000"] == "false"
    assert results["api show channels"] == "\n0 total.\n"
    sofia = results["api sofia status profile external"]
    assert isinstance(sofia, str) and "\nContext          \tswitchio\n" in sofia
    bare_api = results["api"]
    assert isinstance(bare_api, CommandError) and bare_api.reply == "-ERR command not found"
    busy = results["api originate error/USER_BUSY &park()"]
    assert isinstance(busy, ApiError) and busy.reply == "-ERR USER_BUSY"
    usage = results["api originate"]
    assert isinstance(usage, ApiError) and usage.reply.startswith("-USAGE: <call url>")
    nokeys = results["event plain"]
    assert isinstance(nokeys, CommandError) and nokeys.reply == "-ERR no keywords supplied"
    assert results["filter Unique-ID 4ab8b3ea-0000-4000-8000-000000000000"] == (
        "+OK filter added. [Unique-ID]=[4ab8b3ea-0000-4000-8000-000000000000]")
    nolog = results["nolog"]  # the second one (the first was an -ERR too)
    assert isinstance(nolog, CommandError) and nolog.reply == "-ERR not loging"
    sent = results["sendevent CUSTOM"]
    assert sent == "+OK 0d0c5320-8dc9-42b0-bdaf-aaa2e4f92c3c"
    bad_session = results["sendmsg 00000000-0000-0000-0000-000000000000"]
    assert isinstance(bad_session, CommandError)
    assert bad_session.reply == "-ERR invalid session id [00000000-0000-0000-0000-000000000000]"

    # the client's picture of the subscriptions follows the successful commands only
    assert client.event_names == {"BACKGROUND_JOB"}
    assert client.event_format == "plain"
    assert client.filters == []

    # bgapi: FreeSWITCH's Job-UUID reused, and the client-chosen one
    assert [j.uuid for j in jobs] == [
        "7b24e9ac-4d46-44cb-ac17-47f398514a81", "7b2e0d1c-0000-4000-8000-000000000001",
        "ea214b0c-a2c5-476d-b7d9-c59945acf5c2", "49a1164a-abb6-452a-bb7e-55bf6d8379c5"]
    for job in jobs:
        assert job.result == t.job_results[job.uuid]
    assert [j.success for j in jobs] == [True, True, False, False]
    assert jobs[0].result.startswith("UP 0 years")
    assert jobs[2].cause == "NO_ROUTE_DESTINATION"
    assert jobs[3].result == "-ERR bogus_command_xyz Command not found!\n"
    assert rec.names == t.event_names == ["BACKGROUND_JOB"] * 4


async def test_unknown_api_with_check_raises_api_error(fixtures_dir):
    t = Transcript.load(fixtures_dir, "commands")
    i = next(i for i, c in enumerate(t.sends) if c.line == "api bogus_command_xyz arg")
    answer = t.reply_for(i)
    assert answer.content_type == API_RESPONSE
    wire_reply = (f"Content-Type: api/response\nContent-Length: {len(answer.body)}\n\n"
                  .encode() + answer.body)
    async with scripted_server(lambda cmd, _: replies.command_reply("+OK accepted")
                               if cmd.name == "auth" else wire_reply) as server:
        async with InboundClient("127.0.0.1", server.port, reconnect=False) as client:
            assert await client.api("bogus_command_xyz arg") == answer.text
            with pytest.raises(ApiError) as info:
                await client.api("bogus_command_xyz arg", check=True)
            assert info.value.reply == "-ERR bogus_command_xyz Command not found!"
            assert info.value.command == "api bogus_command_xyz arg"


# --- before auth (raw send), auth rejected ------------------------------------------------------


class RawConnection(Connection):
    """A bare Connection over TCP that does not authenticate: commands go out as written."""

    def _attach(self, wire: _Wire) -> None:
        super()._attach(wire)
        self._connected.set()

    async def open(self, port: int) -> None:
        await asyncio.get_running_loop().create_connection(lambda: _Wire(self), "127.0.0.1",
                                                           port)

    def close(self) -> None:
        if self._wire is not None and self._wire.transport is not None:
            self._wire.transport.close()


async def test_before_auth(fixtures_dir):
    t = Transcript.load(fixtures_dir, "before_auth")
    async with ReplayServer(t.entries) as srv:
        conn = RawConnection(timeout=2.0)
        rec = Recorder(conn)
        await conn.open(srv.port)

        first = await conn.send(commands.api("status"))
        assert first.content_type == COMMAND_REPLY
        assert first.reply_text == "-ERR command not found"
        with pytest.raises(CommandError) as info:
            await conn.subscribe("ALL")
        assert info.value.reply == "-ERR command not found"
        assert conn.event_names == set()
        assert await conn.command(commands.auth("ClueCon")) == "+OK accepted"
        status = await conn.api("status")
        assert status == t.replies[3].text
        assert status.startswith("UP 0 years") and "is ready\n" in status
        assert await conn.command(commands.exit()) == "+OK bye"
        await rec.wait_state("closed")

    assert_same_commands(srv.commands, t.sends)
    assert rec.frames[0].content_type == "auth/request"
    assert [f.content_type for f in rec.frames] == [f.content_type for f in t.frames]
    assert conn.disconnect_notice is not None and conn.disconnect_notice.text == replies.GOODBYE


async def test_before_auth_api_raises(fixtures_dir):
    """api() before auth: FreeSWITCH answers a command/reply, not an api/response."""
    t = Transcript.load(fixtures_dir, "before_auth")
    async with ReplayServer(t.entries, stop_after=3, at_end="hang") as srv:
        conn = RawConnection(timeout=2.0)
        await conn.open(srv.port)
        with pytest.raises(CommandError) as info:
            await conn.api("status")
        assert info.value.reply == "-ERR command not found"
        assert info.value.command == "api status"
        conn.close()


async def test_auth_rejected(fixtures_dir):
    t = Transcript.load(fixtures_dir, "auth_rejected")
    password = "wrong-password"
    async with ReplayServer(t.entries) as srv:
        client = InboundClient("127.0.0.1", srv.port, password, connect_timeout=2.0,
                               backoff=(0.01, 0.05))
        rec = Recorder(client)
        with pytest.raises(AuthenticationError) as info:
            await client.connect()
        # a client that failed to connect must not retry on its own
        await asyncio.sleep(scaled(0.2))
        assert srv.connections == 1
    message = str(info.value)
    assert f"127.0.0.1:{srv.port}" in message
    assert "-ERR invalid" in message
    assert password not in message and password not in repr(info.value.args)
    assert_same_commands(srv.commands, t.sends)
    assert not client.connected
    assert rec.states == []
