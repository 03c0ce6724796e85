"""The notebook layer's core: the Lab facade, its EventLog, the command hook, the lag probe."""

from __future__ import annotations

import asyncio
import time
import warnings

import pytest

import switchio_lab as switchio
from switchio_lab import PoolError
from switchio_lab.connection import InboundClient
from switchio_lab.esl import API_RESPONSE, COMMAND_REPLY, Event
from switchio_lab.lab import (
    EventLog,
    EventRecord,
    Lab,
    LoopLagWarning,
    current,
    text_ladder,
)
from switchio_lab.lab.eventlog import command_info
from switchio_lab.sim import Node, NodeConfig
from switchio_lab.testing import pause


class Tagged:
    """Answers inbound legs; tags every leg with its version; counts hangups."""

    tag = "v1"

    def __init__(self) -> None:
        self.hangups = 0

    @switchio.callback("CHANNEL_PARK")
    def on_park(self, sess):
        sess.vars["tag"] = self.tag
        if sess.is_inbound():
            sess.answer()

    @switchio.callback("CHANNEL_HANGUP")
    def on_hangup(self, sess):
        self.hangups += 1


class TaggedV2(Tagged):
    tag = "v2"


@pytest.fixture
async def lab():
    lab = await Lab.start(nodes=2, lag_warning=None)
    yield lab
    await lab.stop()


async def call(lab: Lab, **kwargs) -> str:
    job = await lab.originate(**kwargs)
    assert (await job.wait(5)).startswith("+OK")
    await lab.wait(lambda: len(lab.calls.get(job.sess_uuid, ())) == 2
                   and all(s.answered and "tag" in s.vars for s in lab.calls[job.sess_uuid]))
    return job.sess_uuid


# -- the Lab over embedded nodes ------------------------------------------------------------------
async def test_lab_embedded_end_to_end(lab: Lab) -> None:
    assert lab.embedded and len(lab.nodes) == 2 and lab.running
    assert lab.names == ["127.0.0.1", "127.0.0.2"] == [c.host for c in lab.clients]
    assert all(c.connected for c in lab.clients) and current() is lab
    assert lab.apps is lab.service.apps and lab.pool is lab.service.pool
    assert lab.address(0) == f"lab@{lab.nodes[0].sip_address('external')}"
    assert [lab.client().host for _ in range(3)] == ["127.0.0.1", "127.0.0.2", "127.0.0.1"]
    assert lab.client(lab.clients[1]) is lab.client("127.0.0.2") is lab.client(1)
    statuses = await lab.api("status")
    assert list(statuses) == lab.names and all(s.startswith("UP ") for s in statuses.values())
    assert await lab.api("global_getvar hostname", "127.0.0.2") == {
        "127.0.0.2": "switchio-lab-2"}

    report = await lab.load_app(Tagged, "tagged")
    assert str(report) == "loaded Tagged as 'tagged' on 127.0.0.1, 127.0.0.2"
    assert not report.replaced and report.old_calls == 0
    # the default destination is the next node: a call from node 1 has its far leg on node 2
    uuid = await call(lab, app_id="tagged", node=0)
    legs = lab.calls[uuid]
    assert [(s.host, s.direction) for s in legs] == [("127.0.0.1", "outbound"),
                                                     ("127.0.0.2", "inbound")]
    assert set(lab.sessions) == {s.uuid for s in legs} and legs[0].uuid == uuid
    frame = lab.sessions_table("tag")
    assert list(frame.columns) == ["uuid", "node", "call", "direction", "state", "answered",
                                   "app", "app_version", "age", "vars", "tag"]
    assert set(frame["node"]) == {"127.0.0.1", "127.0.0.2"} and set(frame["call"]) == {uuid}
    assert set(frame["app"]) == {"tagged"} and set(frame["tag"]) == {"v1"}
    assert frame["answered"].all() and (frame["age"] >= 0).all()
    assert len(lab.sessions_frame) == 2
    counts = lab.counts()
    assert counts["sessions"] == 2 and counts["calls"] == 1 and counts["apps"] == 1
    assert "sessions 2 | calls 1 | apps: tagged" in lab.status()

    # from the last node, the next one is the first
    uuid2 = await call(lab, app_id="tagged", node="127.0.0.2")
    hosts = {s.uuid: s.host for s in lab.calls[uuid2]}  # legs in the order events came
    assert hosts.pop(uuid2) == "127.0.0.2" and list(hosts.values()) == ["127.0.0.1"]
    await lab.hupall()
    assert not lab.sessions and not lab.calls

    # the event log saw the whole call, both legs, commands and replies, in order
    records = lab.events.for_call(uuid)
    assert [r.time for r in records] == sorted(r.time for r in records)
    assert records[0].kind == "command" and records[0].name == "bgapi originate"
    assert records[0].uuid == uuid and records[0].node == "127.0.0.1"
    assert records[1].kind == "reply" and records[1].text.startswith("+OK Job-UUID: ")
    kinds = {(r.node, r.kind, r.name) for r in records}
    for node, leg in (("127.0.0.1", legs[0].uuid), ("127.0.0.2", legs[1].uuid)):
        names = [r.name for r in records
                 if r.node == node and r.uuid == leg and r.kind == "event"]
        assert names[0] == "CHANNEL_CREATE" and names[-1] == "CHANNEL_DESTROY"
        assert "CHANNEL_ANSWER" in names
    assert ("127.0.0.2", "command", "api uuid_answer") in kinds
    assert ("127.0.0.2", "reply", "api uuid_answer") in kinds
    assert ("127.0.0.1", "event", "BACKGROUND_JOB") in kinds
    assert not any(r.uuid in (s.uuid for s in lab.calls.get(uuid2, ())) for r in records)
    assert lab.events.legs(legs[1].uuid) == [("127.0.0.1", legs[0].uuid),
                                             ("127.0.0.2", legs[1].uuid)]
    ladder = lab.events.text_ladder(uuid)
    assert "127.0.0.1 outbound" in ladder and "127.0.0.2 inbound" in ladder
    assert "CHANNEL_ANSWER" in ladder and "|──bgapi originate" in ladder
    assert "INVITE (inferred)" in ladder and "200 OK (inferred)" in ladder
    # the connection's own handshake is there too, password masked
    first = lab.events.filter(node="127.0.0.1")[:3]
    assert [(r.kind, r.name) for r in first] == [("frame", "auth/request"),
                                                 ("command", "auth"), ("reply", "auth")]
    assert first[1].text == "auth ********" and "ClueCon" not in first[1].text
    assert lab.events.rate(window=60.0) > 0

    with pytest.raises(switchio.AppError, match="no app loaded under id 'nope'"):
        await lab.originate(app_id="nope")
    await lab.stop()
    await lab.stop()  # idempotent
    assert not lab.running and not any(c.connected for c in lab.clients)
    assert not any(n.running for n in lab.nodes)
    with pytest.raises(LookupError, match="no Lab is running"):
        current()
    assert "[stopped]" in repr(lab)


async def test_lab_hot_swap_report_counts_calls_across_nodes(lab: Lab) -> None:
    await lab.load_app(Tagged, "tagged")
    old_uuid = await call(lab, app_id="tagged")
    report = await lab.load_app(TaggedV2, "tagged")
    assert report.replaced and set(report.old) == {"127.0.0.1", "127.0.0.2"}
    assert report.old_calls == 1  # one call, a leg on each node
    assert "1 call(s) still run the old version" in str(report)
    assert "Tagged v1 -> TaggedV2 v2" in str(report)
    new_uuid = await call(lab, app_id="tagged")
    tags = dict(zip(lab.sessions_frame["call"], lab.sessions_table("tag")["tag"], strict=True))
    assert tags == {old_uuid: "v1", new_uuid: "v2"}
    await lab.hupall()
    assert report.old_calls == 0
    old_apps = [v.ns for v in report.old.values()]
    new_apps = [v.ns for v in report.new.values()]
    assert [a.hangups for a in old_apps] == [1, 1] and [a.hangups for a in new_apps] == [1, 1]
    with pytest.raises(switchio.AppError, match="already loaded"):
        await lab.load_app(Tagged, "tagged", replace=False)
    await lab.unload_app("tagged")
    assert lab.apps.apps == {}


async def test_lab_on_stop_cleanups_run_last_first() -> None:
    lab = await Lab.start(nodes=1, lag_warning=None)
    order = []

    async def later():
        order.append("async")
    lab.on_stop(lambda: order.append("sync"))
    lab.on_stop(later)
    lab.on_stop(lambda: 1 / 0)  # logged, the others still run
    await lab.stop()
    assert order == ["async", "sync"]


# -- backends -------------------------------------------------------------------------------------
@pytest.fixture
async def real_node():
    """An embedded node standing in for a real FreeSWITCH host (SIP on 127.0.0.1:5080)."""
    node = await Node(NodeConfig(esl_port=0, hostname="fs-1")).start()
    yield node
    await node.stop()


async def test_lab_hosts_from_the_environment(real_node: Node, monkeypatch) -> None:
    monkeypatch.setenv("SWITCHIO_LAB_HOSTS", f" 127.0.0.1:{real_node.esl_port} ,")
    monkeypatch.delenv("SWITCHIO_LAB_PASSWORD", raising=False)
    lab = await Lab.start(lag_warning=None)
    try:
        assert not lab.embedded and lab.nodes is None and lab.cluster is None
        assert [(c.host, c.port) for c in lab.clients] == [("127.0.0.1", real_node.esl_port)]
        assert lab.address(0, "1000") == "1000@127.0.0.1:5080"
        assert (await lab.api("global_getvar hostname")) == {"127.0.0.1": "fs-1"}
        await lab.load_app(Tagged, "tagged")
        uuid = await call(lab, app_id="tagged")  # one host: it calls itself
        assert {s.direction for s in lab.calls[uuid]} == {"inbound", "outbound"}
        await lab.hupall()
    finally:
        await lab.stop()
    assert real_node.running  # a real host is not ours to stop

    monkeypatch.setenv("SWITCHIO_LAB_PASSWORD", "wrong")
    with pytest.raises(PoolError, match="rejected the password"):
        await Lab.start(lag_warning=None)
    # explicit nodes win over the environment
    lab = await Lab.start(nodes=1, lag_warning=None)
    assert lab.embedded and lab.clients[0].port != real_node.esl_port
    await lab.stop()


async def test_lab_start_errors(real_node: Node) -> None:
    with pytest.raises(ValueError, match="not both"):
        await Lab.start(nodes=1, hosts=["127.0.0.1"])
    with pytest.raises(ValueError, match="no hosts"):
        await Lab.start(hosts=" , ")
    with pytest.raises(ValueError, match="at least one node"):
        await Lab.start(nodes=0)
    with pytest.raises(PoolError, match="cannot connect"):
        await Lab.start(hosts="127.0.0.1:1", reconnect=False, lag_warning=None)
    lab = await Lab.start(hosts=[("127.0.0.1", real_node.esl_port)], events=["ALL"],
                          lag_warning=None)
    assert "ALL" in lab.clients[0].connection.event_names
    await lab.stop()


# -- the loop-lag probe ---------------------------------------------------------------------------
async def test_lag_warning_once_per_episode() -> None:
    lab = await Lab.start(nodes=1, lag_warning=0.2, lag_interval=0.02)
    await lab.load_app(Tagged, "tagged")
    blocks = []

    def block(event: Event) -> None:
        if blocks:
            time.sleep(blocks.pop())  # a callback that blocks the loop
    lab.clients[0].connection.on_event(block, "CHANNEL_ANSWER")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            await pause(0.1)  # on time, no event: nothing to say
            blocks.append(0.4)
            await call(lab, app_id="tagged")
            await pause(0.2)
            lagged = [w for w in caught if issubclass(w.category, LoopLagWarning)]
            assert len(lagged) == 1, [str(w.message) for w in caught]
            (episode,) = lab.lag_episodes
            assert episode.lag >= 0.35 and episode.events > 0 and episode.dropped == 0
            assert f"{episode.events} event(s) waited" in str(lagged[0].message)
            await pause(0.2)  # on time again: no second warning
            assert len([w for w in caught if w.category is LoopLagWarning]) == 1
            # a new episode warns again
            blocks.append(0.4)
            await call(lab, app_id="tagged")
            await pause(0.2)
            assert len([w for w in caught if w.category is LoopLagWarning]) == 2
            # an event queue that overflows is reported too
            stream = lab.clients[0].connection.events(maxsize=1)
            await lab.hupall()
            await pause(0.1)
            assert len([w for w in caught if w.category is LoopLagWarning]) == 3
            assert lab.lag_episodes[-1].dropped > 0 and "dropped" in str(caught[-1].message)
            stream.close()
    finally:
        await lab.stop()


async def test_a_blocked_loop_without_events_does_not_warn() -> None:
    lab = await Lab.start(nodes=1, lag_warning=0.1, lag_interval=0.02)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            await pause(0.05)
            time.sleep(0.2)  # blocked, but nothing happened meanwhile
            await pause(0.1)
        assert not [w for w in caught if w.category is LoopLagWarning]
        assert lab.lag_episodes == []
    finally:
        await lab.stop()


# -- the command hook ------------------------------------------------------------------------------
async def test_command_hook_sees_commands_and_replies_in_order(sim_node: Node) -> None:
    conn = InboundClient(sim_node.host, sim_node.esl_port, reconnect=False)
    seen: list[tuple[bytes, str | None]] = []
    conn.on_command(lambda data, reply: seen.append(
        (data, None if reply is None else reply.content_type)))

    def fail(data, reply):
        raise RuntimeError("a broken observer")
    conn.on_command(fail)
    await conn.connect()
    assert seen == [(b"auth ********\n\n", None), (b"auth ********\n\n", COMMAND_REPLY)]
    assert conn.stats.callback_errors == 2  # logged and counted; the command went through
    conn.remove_callback(fail)
    seen.clear()
    replies = await asyncio.gather(conn.api("global_getvar hostname"), conn.subscribe("ALL"))
    assert replies[0] == "switchio-lab-1"
    assert seen == [(b"api global_getvar hostname\n\n", None),
                    (b"event plain ALL\n\n", None),
                    (b"api global_getvar hostname\n\n", API_RESPONSE),
                    (b"event plain ALL\n\n", COMMAND_REPLY)]
    assert conn.stats.callback_errors == 2
    await conn.close()


# -- the EventLog on its own ----------------------------------------------------------------------
def ev(name: str, uuid: str | None = None, **headers: str) -> Event:
    h = {"Event-Name": name, **{k.replace("_", "-") if k[0].isupper() else k: v
                                for k, v in headers.items()}}
    if uuid:
        h["Unique-ID"] = uuid
    return Event.from_headers(h)


def rec(t: float, node: str, kind: str, name: str, uuid: str | None = None,
        event: Event | None = None, text: str = "") -> EventRecord:
    return EventRecord(t, node, kind, name, uuid, event, text)


def test_eventlog_filter_bounds_and_subscribe() -> None:
    log = EventLog(maxlen=5)
    got: list[EventRecord] = []
    unsubscribe = log.subscribe(got.append)
    broken = log.subscribe(lambda r: 1 / 0)  # logged, never stops the others
    a = ev("CHANNEL_ANSWER", "a", Call_Direction="inbound")
    b = ev("CHANNEL_ANSWER", "b", Call_Direction="outbound")
    c = ev("CUSTOM", None, Event_Subclass="sofia::register")
    for i, r in enumerate([rec(1, "n1", "command", "api status", text="api status"),
                           rec(2, "n1", "reply", "api status", text="UP"),
                           rec(3, "n1", "event", "CHANNEL_ANSWER", "a", a),
                           rec(4, "n2", "event", "CHANNEL_ANSWER", "b", b),
                           rec(5, "n2", "event", "CUSTOM", None, c, "sofia::register")]):
        log.append(r)
        assert log.total == i + 1
    assert len(log) == 5 and log.dropped == 0 and got == list(log.records)
    assert log.filter(name="CHANNEL_ANSWER", header="Call-Direction", value="inbound") == [
        log[2]]
    assert log.filter(header="Call-Direction") == log[2:4]
    assert log.filter(kind=["command", "reply"]) == log[:2]
    assert log.filter(uuid="b") == [log[3]] and log.filter(node="n2") == log[3:]
    assert log.filter(name="sofia::register") == [log[4]]
    assert log.filter(name={"CHANNEL_ANSWER", "api status"}, kind="event") == log[2:4]
    with pytest.raises(ValueError, match="unknown kind"):
        log.filter(kind="events")
    seen = log.total
    log.append(rec(6, "n1", "frame", "log/data", text="hello"))
    log.append(rec(7, "n1", "frame", "log/data", text="again"))
    assert len(log) == 5 and log.dropped == 2 and log.records[0].time == 3  # bounded
    assert [r.time for r in log.since(seen)] == [6, 7]
    assert [r.time for r in log.since(0)] == [3, 4, 5, 6, 7]  # the dropped are just gone
    assert log.since(log.total) == [] and [r.time for r in log.tail(2)] == [6, 7]
    unsubscribe()
    broken()
    log.append(rec(8, "n1", "frame", "log/data"))
    assert len(got) == 7
    frame = log.frame()
    assert list(frame.columns) == ["time", "ms", "node", "kind", "name", "uuid", "text"]
    assert frame["ms"].tolist() == [0.0, 1000.0, 2000.0, 3000.0, 4000.0]
    assert log.rate(window=10, kind=None, now=8.0) == 0.5
    log.enabled = False
    log.append(rec(9, "n1", "frame", "log/data"))
    assert log.total == 8
    log.clear()
    assert len(log) == 0 and log.total == 8 and log.since(0) == [] and log.frame().empty
    assert "0 record(s) (of 8 recorded, max 5)" in repr(log)


def test_eventlog_for_call_follows_legs_across_nodes() -> None:
    log = EventLog()
    tag = "variable_switchio_call"
    xtag = "variable_sip_h_X-switchio_call"
    records = [
        rec(1, "n1", "command", "bgapi originate", "A",
            text="bgapi originate {origination_uuid=A,switchio_call=A}sofia/external/x@h "
                 "&park()\nJob-UUID: J1"),
        rec(2, "n1", "reply", "bgapi originate", "A", text="+OK Job-UUID: J1"),
        rec(3, "n1", "event", "CHANNEL_CREATE", "A", ev("CHANNEL_CREATE", "A", **{tag: "A"})),
        rec(4, "n2", "event", "CHANNEL_CREATE", "B", ev("CHANNEL_CREATE", "B", **{xtag: "A"})),
        rec(5, "n2", "event", "CHANNEL_CREATE", "Z", ev("CHANNEL_CREATE", "Z")),  # another call
        rec(6, "n2", "command", "api uuid_answer", "B", text="api uuid_answer B"),
        rec(7, "n2", "command", "api uuid_answer", "Z", text="api uuid_answer Z"),
        rec(8, "n2", "reply", "api uuid_answer", "B", text="+OK"),
        # a B-leg bridged from B, tied by Other-Leg-Unique-ID only
        rec(9, "n2", "event", "CHANNEL_BRIDGE", "C",
            ev("CHANNEL_BRIDGE", "C", **{"Other-Leg-Unique-ID": "B"})),
        rec(10, "n2", "event", "CHANNEL_HANGUP", "C", ev("CHANNEL_HANGUP", "C")),
        rec(11, "n1", "event", "BACKGROUND_JOB", None,
            ev("BACKGROUND_JOB", None, **{"Job-UUID": "J1"}), "+OK A"),
        rec(12, "n1", "event", "BACKGROUND_JOB", None,
            ev("BACKGROUND_JOB", None, **{"Job-UUID": "J2"}), "+OK Z"),
        rec(13, "n1", "command", "api show", None, text="api show channels like A"),
    ]
    for r in records:
        log.append(r)
    expected = [1, 2, 3, 4, 6, 8, 9, 10, 11, 13]
    for key in ("A", "B", "C"):  # the call, or any of its legs
        assert [r.time for r in log.for_call(key)] == expected, key
    assert [r.time for r in log.for_call("Z")] == [5, 7, 12]
    assert log.for_call("nothing") == []
    assert log.legs("B") == [("n1", "A"), ("n2", "B"), ("n2", "C")]
    ladder = text_ladder(log.for_call("A"))
    lines = ladder.splitlines()
    assert lines[0].split() == ["ms", "client", "n1", "A", "n2", "B", "n2", "C"]
    drawn = [r for r in log.for_call("A") if r.kind in ("event", "command", "reply")]
    # a row per event, command and reply, and per SIP hop inferred: B's INVITE (from A),
    # C's hangup before an answer (toward B, the leg its CHANNEL_BRIDGE names)
    sip = [line for line in lines if "┄" in line]
    assert len(lines) == 1 + len(drawn) + len(sip) and len(sip) == 2
    assert "|┄┄INVITE (inferred)┄┄┄┄┄┄┄▶|" in sip[0]
    assert "|◀┄480 Temporarily Unavai…┄┄|" in sip[1] and "inferred from CHANNEL_HANGUP" in sip[1]
    assert "|──bgapi originate {origi…─▶|" in ladder  # an arrow to lane A, cut to fit
    # and whole in the comment column, after the lanes
    assert lines[1].split("|")[-1].strip() == (
        "bgapi originate {origination_uuid=A,switchio_call=A}sofia/external/x@h &park()")
    assert "|◀╌+OK Job-UUID: J1╌╌╌╌╌╌╌╌╌|" in ladder  # its reply, back from lane A
    assert text_ladder([]) == "(no records)"


@pytest.mark.parametrize("text, name, uuid", [
    ("api uuid_answer abc", "api uuid_answer", "abc"),
    ("bgapi originate {origination_uuid=u1,x=y}sofia/a/b &park()\nJob-UUID: j",
     "bgapi originate", "u1"),
    ("api status", "api status", None),
    ("sendmsg u2\ncall-command: execute\nexecute-app-name: playback\nexecute-app-arg: x",
     "sendmsg execute playback", "u2"),
    ("sendmsg u3\ncall-command: hangup\nhangup-cause: NORMAL_CLEARING", "sendmsg hangup", "u3"),
    ("event plain ALL", "event plain", None),
    ("myevents 5b3e1f0c-0000-4000-8000-000000000001", "myevents",
     "5b3e1f0c-0000-4000-8000-000000000001"),
    ("auth ********", "auth", None),
    ("exit", "exit", None),
])
def test_command_info(text: str, name: str, uuid: str | None) -> None:
    assert command_info(text) == (name, uuid)
