"""Items 2, 5, 7, 12: switchio's Originator, blocking, with switchio's meanings."""

from __future__ import annotations

import time

import pytest
from helpers import wait_until

import switchio_lab.compat as switchio
from switchio_lab.apps.players import TonePlay
from switchio_lab.testing import scaled


class Tagged:
    """Answers inbound legs; prepost takes a keyword (``ppkwargs``)."""

    def prepost(self, client, tag="none"):
        self.tag = tag

    @switchio.callback("CHANNEL_PARK")
    def on_park(self, sess):
        if sess.is_inbound() and not sess.answered:
            sess.answer()


@pytest.fixture
def originator(switch):
    orig = switchio.get_originator([f"{switch.host}:{switch.esl_port}"])
    yield orig
    orig.shutdown()


def test_needs_an_originate_command(originator):
    originator.load_app(Tagged)
    with pytest.raises(switchio.ConfigurationError, match="originate command"):
        originator.start()


def test_duration_zero_never_hangs_up(originator, far):
    assert originator.auto_duration and originator.duration == 1 / 30 + 5  # switchio's
    originator.load_app(TonePlay)
    originator.pool.evals("client.set_orig_cmd(dest_url, app_name='park')",
                          dest_url=f"doggy@{far.sip_address()}")
    assert originator.originate_cmd[0].startswith("originate {")
    assert "{uuid_str}" in originator.originate_cmd[0]
    originator.duration = 0  # switchio: never hang up
    assert originator.duration == 0 and not originator.auto_duration
    originator.max_offered = 1
    originator.start()
    wait_until(lambda: originator.core.answered == 1)
    time.sleep(scaled(0.5))  # far longer than "hang up at once": the call stays up
    assert originator.core.up == 1 and originator.count_calls() == 1
    originator.hupall()
    wait_until(lambda: originator.core.up == 0)


def test_measurers_rep_fields_and_ppkwargs(originator, far):
    seen = []

    def fields():
        seen.append(1)
        return {"user": f"u{len(seen)}"}

    originator.rep_fields_func = fields
    app_id = originator.load_app(Tagged, ppkwargs={"tag": "x"})
    assert app_id == "Tagged"  # the app's name by default
    assert originator.app_manager.instances("Tagged")  # loaded on the node
    originator.pool.evals("client.set_orig_cmd('{user}@' + far, app_name='park')",
                          far=far.sip_address())
    originator.limit, originator.rate, originator.max_offered = 2, 20, 2
    originator.duration = 0.3
    originator.start()
    wait_until(lambda: originator.core.completed == 2, timeout=10)
    assert len(seen) == 2
    store = originator.measurers.stores.CDR
    wait_until(lambda: len(store) == 2)  # item 7: one row per *call*
    rows = originator.measurers.CDR.calls
    assert {r["switchio_app"] for r in rows} == {"Tagged"}
    assert all(r["caller_create"] and r["caller_hangup"] and r["job_launch"] for r in rows)
    assert all(r["hangup_cause"] == "NORMAL_CLEARING" for r in rows)
    assert len(store.legs) >= 2  # the per-leg table is kept
