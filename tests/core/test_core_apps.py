"""Loading apps: errors in callbacks, prepost (failing, arguments), several apps, unloading."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict

import pytest

import switchio_lab as switchio
from switchio_lab import AppError
from switchio_lab.testing import scaled, until


async def place(client, node, app_id=None, hangup_after=None):
    """A call from the node to itself, answered by the app (see Answering)."""
    kwargs = {"hangup_ms": int(hangup_after * 1000)} if hangup_after else {}
    job = await client.originate(f"callee@{node.sip_address()}", app_id=app_id, **kwargs)
    assert (await job.wait(scaled(3))).startswith("+OK"), job.result
    return job


class Answering:
    """Answers the far leg; records (uuid, event) per instance; hangs up if asked."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    @switchio.callback("CHANNEL_PARK")
    def on_park(self, sess) -> None:
        self.seen.append((sess.uuid, "CHANNEL_PARK"))
        if sess.is_inbound():
            sess.answer()

    @switchio.callback("CHANNEL_ANSWER")
    def on_answer(self, sess) -> None:
        self.seen.append((sess.uuid, "CHANNEL_ANSWER"))
        if sess.is_outbound() and "variable_hangup_ms" in sess:
            sess.sched_hangup(int(sess["variable_hangup_ms"]) / 1000)

    @switchio.callback("CHANNEL_DESTROY")
    def on_destroy(self, sess) -> None:
        self.seen.append((sess.uuid, "CHANNEL_DESTROY"))


class Faulty(Answering):
    """Fails in a callback, a coroutine and a handler; the rest must go on."""

    @switchio.callback("CHANNEL_CREATE")
    def explode(self, sess) -> None:
        raise RuntimeError(f"boom in callback for {sess.uuid}")

    @switchio.coroutine("CHANNEL_ANSWER")
    async def explode_later(self, sess) -> None:
        await asyncio.sleep(0)
        raise ValueError("boom in coroutine")

    @switchio.handler("CHANNEL_HANGUP")
    def explode_low(self, event):
        raise KeyError("boom in handler")


async def test_app_errors_are_logged_and_never_stop_the_listener(
        client, sim_node, caplog) -> None:
    caplog.set_level(logging.ERROR, logger="switchio_lab")
    app = Faulty()
    await client.load_app(app, "faulty")
    job = await place(client, sim_node, "faulty", hangup_after=0.05)
    await until(lambda: client.listener.count_calls() == 0)
    caller, callee = job.session, job.session.call.get_peer(job.session)
    # every later event still reached the app, for both legs
    for sess in (caller, callee):
        assert (sess.uuid, "CHANNEL_ANSWER") in app.seen
        assert (sess.uuid, "CHANNEL_DESTROY") in app.seen
    messages = [r.getMessage() for r in caplog.records]
    for uuid in (caller.uuid, callee.uuid):
        assert any("app faulty: callback" in m and "explode" in m and uuid in m
                   for m in messages), messages
        assert any("app faulty: coroutine" in m and "explode_later" in m and uuid in m
                   for m in messages), messages
    assert any("app faulty: handler explode_low" in m for m in messages)
    tracebacks = "".join(r.exc_text or "" for r in caplog.records)
    assert "boom in callback" in tracebacks and "boom in coroutine" in tracebacks
    assert client.listener.handler_errors == 6  # 3 per leg
    # and the listener still works for the next call
    app.seen.clear()
    await place(client, sim_node, "faulty", hangup_after=0.05)
    await until(lambda: sum(1 for _, n in app.seen if n == "CHANNEL_DESTROY") == 2)


class Monitor:
    """An app that needs DTMF events and whose prepost fails."""

    @switchio.callback("DTMF")
    def on_dtmf(self, sess) -> None:
        pass

    def prepost(self, client):
        raise ConnectionRefusedError("the database is down")


class MonitorGen(Monitor):
    def prepost(self):  # a generator failing in its setup part
        raise_it = True
        if raise_it:
            raise RuntimeError("setup failed")
        yield


class MonitorAsync(Monitor):
    async def prepost(self, listener):
        await asyncio.sleep(0)
        raise RuntimeError("async setup failed")


@pytest.mark.parametrize("app", [Monitor, MonitorGen, MonitorAsync])
async def test_failing_prepost_leaves_nothing_registered(client, app) -> None:
    conn = client.connection
    names, headers = set(conn.event_names), list(client.listener.app_id_headers)
    with pytest.raises(AppError, match=f"prepost of {app.__name__} failed") as info:
        await client.load_app(app, "monitor", header="variable_monitor_id")
    assert isinstance(info.value.__cause__, (ConnectionRefusedError, RuntimeError))
    assert "monitor" not in client.listener.apps and client.apps == {}
    assert conn.event_names == names and "DTMF" not in conn.event_names
    assert client.listener.app_id_headers == headers
    with pytest.raises(AppError, match="no app loaded under id 'monitor'"):
        await client.originate("x@127.0.0.1:5080", app_id="monitor")


class Configured(Answering):
    """prepost takes the client and listener by name, and keyword arguments."""

    def prepost(self, client, listener, calls, label="plain"):
        self.got = {"client": client, "listener": listener, "calls": calls, "label": label}
        yield
        self.got["torn_down"] = True


class Flexible(Answering):
    def prepost(self, **kwargs):
        self.got = kwargs


async def test_prepost_arguments_are_filled_by_name(client) -> None:
    app = Configured()
    await client.load_app(app, "conf", calls=3)
    assert app.got == {"client": client, "listener": client.listener, "calls": 3,
                       "label": "plain"}
    other = Configured()
    await client.load_app(other, "conf2", calls=1, label="loud")
    assert other.got["label"] == "loud" and other.got["calls"] == 1
    await client.unload_app("conf")
    assert app.got["torn_down"] is True  # no call: torn down at once
    flexible = Flexible()
    await client.load_app(flexible, "flex", anything=1)
    assert flexible.got == {"anything": 1}


async def test_prepost_argument_errors_are_clear(client) -> None:
    with pytest.raises(AppError, match=r"Configured.prepost\(\) got unknown argument\(s\) "
                                       r"\['bogus'\]; it takes \['calls', 'client', 'label', "
                                       r"'listener'\]"):
        await client.load_app(Configured, "conf", calls=1, bogus=2)
    with pytest.raises(AppError, match=r"prepost\(\) needs argument\(s\) \['calls'\]"):
        await client.load_app(Configured, "conf")
    with pytest.raises(AppError, match=r"Answering has no prepost to take \['calls'\]"):
        await client.load_app(Answering, "plain", calls=1)
    assert client.apps == {}
    with pytest.raises(AppError, match="no marked callbacks"):
        await client.load_app(object(), "nothing")
    with pytest.raises(TypeError, match="is not one"):
        switchio.coroutine("CHANNEL_PARK")(lambda sess: None)


async def test_apps_side_by_side_and_one_class_under_several_ids(client, sim_node) -> None:
    default, a, b = Answering(), Answering(), Configured()
    assert await client.load_app(default) == "default"  # the first app, no id given
    await client.load_app(a, "a")
    await client.load_app(b, "b", calls=0)
    assert await client.load_app(Answering, "a2") == "a2"  # the same class again
    a2 = client.apps["a2"]
    assert isinstance(a2, Answering) and a2 is not a
    with pytest.raises(AppError, match="already loaded under 'a'"):
        await client.load_app(Answering, "a")
    assert client.apps["a"] is a
    calls = defaultdict(set)
    for app_id in ("a", "b", "a2", None, "a"):
        job = await place(client, sim_node, app_id)
        calls[app_id or "default"].update(s.uuid for s in job.session.call.sessions)
        assert job.session.appname == (app_id or "default")
    await client.hupall()
    await until(lambda: client.listener.count_calls() == 0)
    for app_id, app in (("a", a), ("b", b), ("a2", a2), ("default", default)):
        assert {uuid for uuid, _ in app.seen} == calls[app_id], app_id
    assert len(calls["a"]) == 4 and len(calls["b"]) == 2


async def test_unload_app(client, sim_node) -> None:
    app = Configured()
    await client.load_app(app, "conf", calls=1)
    job = await place(client, sim_node, "conf")
    await client.unload_app("conf")
    assert "conf" not in client.apps and "torn_down" not in app.got  # a call is still up
    with pytest.raises(AppError, match="no app loaded under id 'conf'"):
        await client.originate(f"x@{sim_node.sip_address()}", app_id="conf")
    with pytest.raises(AppError, match="no app 'conf' loaded"):
        await client.unload_app("conf")
    await job.session.hangup()  # the call in progress still runs on the unloaded app
    await until(lambda: client.listener.count_calls() == 0)
    assert (job.session.uuid, "CHANNEL_DESTROY") in app.seen
    assert app.got["torn_down"] is True
    await client.load_app(Answering, "x")
    with pytest.raises(AppError, match="no app 'x' loaded as"):
        await client.unload_app("x", Configured)
    await client.unload_app("x", Answering)
    assert client.apps == {}


async def test_prepost_can_ask_for_the_pool(sim_cluster) -> None:
    """prepost(pool) gets the NodePool the client belongs to (a pool of one for a lone
    client), as switchio's apps did."""
    import switchio_lab as switchio
    from switchio_lab.pool import NodePool

    seen = []

    class NeedsPool:
        def prepost(self, pool):
            seen.append(pool)

        @switchio.callback("CHANNEL_PARK")
        def on_park(self, sess):
            pass

    service = switchio.Service(sim_cluster)
    await service.run()
    try:
        await service.apps.load_app(NeedsPool, "p")
        assert len(seen) == 2 and all(p is service.pool for p in seen)
        lone = switchio.Client(sim_cluster[0].host, sim_cluster[0].esl_port, reconnect=False)
        await lone.connect()
        await lone.load_app(NeedsPool, "p")
        assert isinstance(seen[-1], NodePool) and seen[-1].clients == [lone]
        await lone.disconnect()
    finally:
        await service.stop()
