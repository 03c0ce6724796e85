"""Item 1 (and 8, 9, 10): switchio's blocking API with the loop in a background thread."""

from __future__ import annotations

import time

import pytest
from helpers import wait_until

import switchio_lab.compat as switchio
from switchio_lab.apps.players import TonePlay
from switchio_lab.testing import scaled


class Answerer:
    def __init__(self):
        self.parked = 0

    @switchio.callback("CHANNEL_PARK")
    def on_park(self, sess):
        self.parked += 1
        if sess.is_inbound():
            sess.answer()


def test_client_is_blocking(contact, switch):
    host, port = contact
    client = switchio.Client(host, port)
    assert not client.connected()
    client.connect()
    assert client.connected()  # a method, as switchio's
    assert client.api("status").startswith("UP ")
    assert client.cmd("global_getvar hostname") == switch.config.hostname
    with pytest.raises(switchio.APIError):
        client.api("no_such_command")
    assert client.api("no_such_command", exc=False).startswith("-ERR")
    client.disconnect()
    assert not client.connected()


def test_time_sleep_keeps_events_flowing(contact, switch):
    with switchio.get_client(*contact) as client:
        app_id = client.load_app(Answerer)
        assert app_id == "Answerer"  # item 4: the app's name, as switchio
        app = client.apps[app_id]
        job = client.originate(f"doggy@{switch.sip_address()}", app_id=app_id)
        uuid = job.get(scaled(5))
        assert uuid == job.sess_uuid  # item 9: get() gives the uuid
        assert job.successful() is True  # a method
        time.sleep(scaled(0.3))  # plain time.sleep: events are read in the loop thread
        wait_until(lambda: app.parked >= 1 and client.listener.count_sessions() == 2)
        sess = client.listener.sessions[uuid]
        assert client.listener.sessions != {} and sess in client.listener.sessions.values()
        assert sess.con is client.core.connection  # Session.con
        sess.hangup().result(scaled(5))  # from this thread: no "no running event loop"
        wait_until(lambda: client.listener.count_sessions() == 0)


def test_session_events_order_is_switchios(contact, switch):
    with switchio.get_client(*contact, apps={"ans": Answerer}) as client:
        job = client.originate(f"doggy@{switch.sip_address()}", app_id="ans")
        sess = client.listener.sessions.get(job.get(scaled(5)))
        wait_until(lambda: len(sess.events) >= 2)
        events = sess.events
        assert events[-1]["Event-Name"] == "CHANNEL_CREATE"  # item 10: oldest last
        assert events[0] is sess.core.events[-1]
        client.hupall()


def test_listener_blocking(contact):
    listener = switchio.get_listener(*contact)
    listener.connect()
    listener.start()
    assert listener.connected() and listener.is_alive()
    assert listener.count_calls() == 0 and listener.sessions == {}
    listener.disconnect()
    assert not listener.connected()


def test_call_tracking_header_set_after_construction(contact, switch, far):
    """item 3: switchio reads it per event; here too."""
    with switchio.get_client(*contact, apps={"ans": Answerer}) as client:
        client.listener.call_tracking_header = "variable_call_group"
        job = client.originate(f"doggy@{far.sip_address()}", app_id="ans",
                               call_group="g1")
        job.get(scaled(5))
        wait_until(lambda: client.listener.count_sessions() >= 1)
        assert "g1" in client.listener.calls
        client.hupall()


def test_sync_caller_defaults(switch, far):
    """item 8: apps default to {'TonePlay': TonePlay}; returns (sess, waitfor)."""
    with switchio.sync_caller(switch.host, switch.esl_port) as caller:
        assert list(caller.client.apps) == ["TonePlay"]
        assert isinstance(caller.client.apps["TonePlay"], TonePlay)
        sess, waitfor = caller(f"doggy@{far.sip_address()}", "TonePlay", timeout=scaled(5))
        assert sess.answered and sess.is_outbound() and callable(waitfor)
        assert waitfor(sess, "nothing_sets_this", 0.05) is None
        time.sleep(0.2)
        sess.hangup().result(scaled(5))
        wait_until(lambda: caller.client.listener.count_sessions() == 0)


def test_failed_call_raises_apierror(switch):
    with switchio.sync_caller(switch.host, switch.esl_port) as caller:
        with pytest.raises(switchio.APIError):
            caller("nobody@127.0.0.9:5999", "TonePlay", timeout=scaled(10))


def test_names(contact):
    from switchio_lab.compat import utils
    assert issubclass(switchio.ConnectionError, ConnectionError)
    assert utils.ConfigurationError and utils.APIError is switchio.APIError
    con = switchio.get_connection(*contact)
    con.connect()
    assert con.connected() and con.cmd("status").startswith("UP ")
    con.disconnect()
    pool = switchio.api.get_pool([f"{contact[0]}:{contact[1]}"])
    assert isinstance(pool, switchio.SlavePool) and isinstance(pool, switchio.MultiEval)
    assert pool.evals("client.connected()") == (True,)
    pool.evals("client.disconnect()")
    with pytest.raises(switchio.ConnectionError):
        switchio.Client("127.0.0.1", 1).connect()
