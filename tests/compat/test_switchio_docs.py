"""switchio's documented examples, written as its pages show them, run with
``import switchio_lab.compat as switchio`` (the import the migration page names).

Hosts are the embedded switch (``switch``, switchio's FreeSWITCH) and a far node in SIPp's
place (``far``: answers every call); ports come from the fixtures instead of 8021/5080.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import switchio_lab.compat as switchio
from switchio_lab.testing import scaled

from helpers import wait_until

REPO = Path(__file__).resolve().parents[2]


def test_quickstart_sync_caller(switch, far):
    # docs/quickstart.rst, "Originating a single call programatically from Python"
    from switchio_lab.compat import sync_caller
    from switchio_lab.apps.players import TonePlay

    with sync_caller(switch.host, switch.esl_port, apps={"tone": TonePlay}) as caller:
        sess, waitfor = caller('Fred@{}'.format(far.sip_address()), "tone")
        time.sleep(0.5)  # let the tone play a bit (the events flow meanwhile)
        sess.hangup()
        wait_until(lambda: caller.client.listener.count_sessions() == 0)


def test_usage_example_snippet(switch):
    # docs/usage.rst, "Example Snippet" (the call goes to the switch itself)
    from switchio_lab.compat import Client, EventListener
    from switchio_lab.apps.players import TonePlay

    listener = EventListener(switch.host, switch.esl_port)
    client = Client(switch.host, switch.esl_port, listener=listener)
    client.connect()
    listener.connect()
    listener.start()

    id = client.load_app(TonePlay)
    assert isinstance(client.apps.TonePlay, TonePlay) and id == "TonePlay"
    job = client.originate(
        'park@{}'.format(switch.sip_address()),
        proxy=switch.sip_address(),
        app_id=id
    )
    sessid = job.get(30)
    assert sessid == job.sess_uuid
    call = client.listener.calls[job.sess_uuid]
    orig_sess = call.sessions[0]  # get the originating session
    time.sleep(0.5)  # why not
    orig_sess.hangup()
    wait_until(lambda: client.listener.count_calls() == 0)
    client.disconnect()


def test_usage_client_and_listener_pair(switch):
    # docs/usage.rst, "Using a Client and EventListener pair" (its 9196 is an echo
    # extension: here the switch answers every call)
    from switchio_lab.compat import Client, get_listener

    from conftest import ANSWER
    switch.config.dialplan = list(ANSWER)

    client = Client(switch.host, switch.esl_port)
    client.connect()
    assert client.api('status').startswith("UP ")
    assert client.cmd('global_getvar hostname') == switch.config.hostname
    try:
        client.cmd('not a real command')
    except switchio.APIError as exc:
        assert "not a real command" in str(exc)
    else:
        raise AssertionError("no error")
    l = get_listener(switch.host, switch.esl_port)  # noqa: E741 (the page's name)
    l.connect()
    l.start()
    client.listener = l
    job = client.originate('9196@{}'.format(switch.sip_address()))
    job.get(timeout=30)
    assert job.sess_uuid in client.listener.sessions
    client.hupall()
    wait_until(lambda: client.listener.count_sessions() == 0)
    l.disconnect()
    client.disconnect()


def test_callgen(switch, far):
    # docs/callgen.rst, with one slave generator
    from switchio_lab.compat import get_originator
    from switchio_lab.apps.players import TonePlay

    originator = get_originator(['{}:{}'.format(switch.host, switch.esl_port)])
    originator.load_app(TonePlay)
    try:
        originator.start()
    except switchio.ConfigurationError as exc:  # "you must first set an originate command"
        assert "originate command" in str(exc)
    originator.clients[0].set_orig_cmd(
        dest_url='doggy@{}'.format(far.sip_address()),
        profile='external',
        app_name='park',
    )
    assert originator.originate_cmd[0]
    originator.start()
    wait_until(lambda: originator.count_calls() == 1)
    originator.rate = 50  # increase the call rate
    originator.limit = 3  # increase max concurrent call limit (erlangs)
    assert originator.duration == 3 / 50 + 5  # duration follows, as the page says
    wait_until(lambda: originator.count_calls() == 3)
    originator.hupall()
    assert originator.state == "STOPPED"
    wait_until(lambda: originator.count_calls() == 0)
    # "Slave cluster": configure every client at once
    originator.pool.evals(
        ("""client.set_orig_cmd('park@{}'.format(far), app_name='park')"""),
        far=far.sip_address()
    )
    originator.shutdown()


def test_services_proxier(switch, far, cluster):
    # docs/services.rst: the Proxier service; a third node calls through the switch
    from switchio_lab.compat import Service, event_callback

    class Proxier(object):
        """Proxy all inbound calls to the destination specified in the SIP
        Request-URI.
        """
        @event_callback('CHANNEL_PARK')
        def on_park(self, sess):
            if sess.is_inbound():
                sess.bridge(dest_url="${sip_req_uri}")

    s = Service([switch])
    s.apps.load_app(Proxier, app_id='default')
    s.run(block=False)  # the page's s.run() blocks forever
    try:
        with switchio.get_client(far.host, far.esl_port) as caller:
            # far calls itself *through* the switch: INVITE to far, routed via the switch
            job = caller.originate('doggy@{}'.format(far.sip_address()),
                                   proxy=switch.sip_address())
            assert job.get(scaled(10))
            wait_until(lambda: caller.listener.count_sessions() >= 2)
            caller.hupall()
    finally:
        s.stop()


def test_sessionapi(switch, far):
    # docs/sessionapi.rst
    with switchio.sync_caller(switch.host, switch.esl_port) as caller:
        sess, waitfor = caller('Fred@{}'.format(far.sip_address()), "TonePlay",
                               my_var="first")
        assert sess['Caller-Direction'] == 'outbound'
        assert sess['Unique-ID'] == sess.uuid
        assert sess.events[-1]['variable_my_var'] == "first"  # the first value of my_var
        sess.hangup()


def test_readme_router_served_by_the_switchio_command(switch, far):
    # README.rst: the Router dialplan, run with `switchio serve HOST --app ./dialplan.py:router`
    # (FreeSWITCH sets variable_sofia_profile itself; the embedded switch's dialplan does)
    from switchio_lab.sim import Rule
    switch.config.dialplan = [Rule(r"^(.*)$", [("set", "sofia_profile=external"),
                                               ("park", "")])]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "switchio_lab.compat.cli", "serve",
                             "{}:{}".format(switch.host, switch.esl_port),
                             "--app", str(REPO / "tests" / "readme_router.py") + ":router"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout.readline().startswith("serving ")
        with switchio.get_client(far.host, far.esl_port) as caller:
            job = caller.originate('1000@{}'.format(switch.sip_address()))
            assert job.get(scaled(10))  # the router answered
            caller.hupall()
            wait_until(lambda: caller.listener.count_sessions() == 0)
    finally:
        proc.terminate()
        proc.wait(scaled(20))
