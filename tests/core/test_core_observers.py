"""Observer apps (``load_app(..., observe=True)``) see every session, whatever its app id."""

from __future__ import annotations

import seed_apps

import switchio_lab as switchio
from switchio_lab.apps.measure import CDR
from switchio_lab.esl import Event
from switchio_lab.testing import scaled, until


async def test_a_cdr_observer_measures_another_apps_calls(sim_cluster) -> None:
    c1, c2 = (switchio.Client(n.host, n.esl_port, reconnect=False) for n in sim_cluster)
    await c1.connect()
    await c2.connect()
    try:
        await c1.load_app(seed_apps.TonePlay, "tone")
        await c2.load_app(seed_apps.TonePlay, "tone")
        await c1.load_app(CDR, "cdr", observe=True)
        cdr = c1.apps["cdr"]
        job = await c1.originate(f"doggy@{sim_cluster[1].sip_address()}", app_id="tone")
        assert (await job.wait(scaled(5))).startswith("+OK")
        await until(lambda: c1.listener.count_calls() == 1)  # up, the tone playing
        await c1.hupall()
        await until(lambda: cdr.rows)
        assert len(cdr.rows) == 1  # the caller leg, the only one on node 1
        row = cdr.rows[0]
        assert row["app_id"] == "tone" and row["answered"] is True
        # the observer is no app to pick by id: untagged calls do not land on it
        assert [o.app_id for o in c1.listener.observers] == ["cdr"]
        listener = c1.listener
        for header in listener.app_id_headers:
            tagged = Event.from_headers({"Event-Name": "CHANNEL_PARK", header: "cdr"})
            assert listener.app_for(tagged) is None
            tone = Event.from_headers({"Event-Name": "CHANNEL_PARK", header: "tone"})
            assert listener.app_for(tone) is listener.apps["tone"]
        untagged = Event.from_headers({"Event-Name": "CHANNEL_PARK"})
        assert listener.app_for(untagged) is None
    finally:
        await c1.disconnect()
        await c2.disconnect()
