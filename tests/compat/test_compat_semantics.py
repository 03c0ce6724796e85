"""Items 2, 6, 12: switchio names and behaviours fixed in the core or given in compat."""

from __future__ import annotations

import asyncio

import pytest
from helpers import wait_until

import switchio_lab.compat as switchio
from switchio_lab import AppError, marks
from switchio_lab.apps.bert import Bert
from switchio_lab.apps.routers import Router
from switchio_lab.compat import loop
from switchio_lab.testing import scaled


def test_marking_a_non_function_is_a_clear_error():
    class NotAFunction:
        pass

    with pytest.raises(TypeError, match="marks a function"):
        marks.callback("CHANNEL_ANSWER")(NotAFunction)
    with pytest.raises(TypeError, match="marks a function"):
        marks.handler("CHANNEL_ANSWER")("a string")


def test_router_iter_matches():
    router = Router()

    @router.route(r"^(\d+)$", extra=1)
    async def numbers(sess, match, router, extra):
        pass

    found = list(router.route.iter_matches({"Caller-Destination-Number": "123"}, base=0))
    assert len(found) == 1
    func, match, kwargs = found[0]
    assert func is numbers and match.group(1) == "123" and kwargs == {"base": 0, "extra": 1}
    assert list(router.route.iter_matches({"Caller-Destination-Number": "abc"})) == []


class Counter:
    def __init__(self):
        self.parks = 0

    def prepost(self, client, start=0):
        self.parks = start
        yield
        self.torn_down = True

    @switchio.callback("CHANNEL_PARK")
    def on_park(self, sess):
        self.parks += 1


class Answer:
    @switchio.callback("CHANNEL_PARK")
    def on_park(self, sess):
        if sess.is_inbound() and not sess.answered:
            sess.answer()


def test_load_multi_app_and_service_is_alive(switch):
    service = switchio.Service([switch])
    assert not service.is_alive()
    service.run(block=False)
    try:
        assert service.is_alive()
        app_id = service.apps.load_multi_app([(Counter, {"start": 10}), Answer])
        assert app_id == "Counter+Answer"
        (client,) = service.pool.clients
        composite = client.apps[app_id]
        counter, answer = (inst for inst, _ in composite.members)
        assert counter.parks == 10 and isinstance(answer, Answer)

        async def call():
            job = await client.originate(f"doggy@{switch.sip_address()}", app_id=app_id)
            return await job.wait(scaled(5))
        assert loop.run(call()).startswith("+OK")  # Answer answered the far leg
        wait_until(lambda: counter.parks >= 2)
        loop.run(client.hupall(timeout=scaled(5)))
        service.apps.unload_app(app_id)
        wait_until(lambda: getattr(counter, "torn_down", False))
    finally:
        service.stop()
    assert not service.is_alive()


class Waiter:
    """Waits for an answer that never comes; the session hangs up meanwhile."""

    def __init__(self):
        self.outcome = None

    @switchio.coroutine("CHANNEL_PARK")
    async def on_park(self, sess):
        if not sess.is_inbound():
            return
        try:
            await sess.recv("CHANNEL_ANSWER", timeout=None)
            self.outcome = "answered"
        except asyncio.CancelledError:
            self.outcome = "cancelled"
            raise
        except switchio.SessionEnded:
            self.outcome = "session-ended"
            raise


def test_coroutine_waiting_when_session_hangs_up_is_cancelled(contact, switch):
    """item 6: switchio cancels the wait; the coroutine can see SessionEnded (why) and,
    if it lets it escape, its task ends cancelled -- not counted as an app error."""
    with switchio.get_client(*contact, apps={"wait": Waiter}) as client:
        app = client.apps["wait"]
        client.originate(f"doggy@{switch.sip_address()}", app_id="wait")
        wait_until(lambda: client.listener.count_sessions() == 2)
        client.hupall()
        wait_until(lambda: app.outcome is not None)
        wait_until(lambda: not client.listener.tasks)
        assert app.outcome == "session-ended"
        assert client.listener.handler_errors == 0


def test_bert_loads_without_mod_bert_with_a_warning(contact):
    with switchio.get_client(*contact) as client:
        with pytest.warns(RuntimeWarning, match="mod_bert"):
            assert client.load_app(switchio.Bert) == "Bert"
        with pytest.raises(AppError, match="mod_bert"):  # the core's Bert stays strict
            client.load_app(Bert, on_value="strict")
