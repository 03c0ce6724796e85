"""Observer apps (``load_app(..., observe=True)``) see every session, whatever its app id."""

from __future__ import annotations

import asyncio

import seed_apps

import switchio_lab as switchio
from switchio_lab.apps.measure import CDR


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
        assert (await job.wait(5)).startswith("+OK")
        await asyncio.sleep(0.3)
        await c1.hupall()
        for _ in range(300):
            if cdr.rows:
                break
            await asyncio.sleep(0.01)
        assert len(cdr.rows) == 1  # the caller leg, the only one on node 1
        row = cdr.rows[0]
        assert row["app_id"] == "tone" and row["answered"] is True
        # the observer is no app to pick by id: untagged calls do not land on it
        assert c1.listener.app_for is not None and c1.listener.observers[0].app_id == "cdr"
    finally:
        await c1.disconnect()
        await c2.disconnect()
