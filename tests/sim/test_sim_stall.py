"""No single command holds the embedded switch's loop (issue 15): long work runs in
batches between which other tasks run. Checked by what a probe task sees between two of
its own loop iterations (behaviour, not wall-clock time); the stall in milliseconds per
command is measured by ``bench/bench_stall.py``."""

from __future__ import annotations

import asyncio
import contextlib

from switchio_lab.connection import InboundClient
from switchio_lab.sim import Node
from switchio_lab.sim.channel import HANGUP_BATCH
from switchio_lab.testing import scaled, until


@contextlib.asynccontextmanager
async def probe(look):
    """Record ``look()`` at every iteration of the loop while the block runs."""
    seen: list = []
    stop = False

    async def run() -> None:
        while not stop:
            seen.append(look())
            await asyncio.sleep(0)
    task = asyncio.ensure_future(run())
    try:
        yield seen
    finally:
        stop = True
        await task


async def parked_calls(client: InboundClient, node: Node, n: int) -> None:
    addr = node.sip_address("external")
    jobs = [await client.bgapi(f"originate {{origination_uuid=st-{i}}}sofia/external/s{i}@"
                               f"{addr} &park()") for i in range(n)]
    await until(lambda: len(node.channels) == 2 * n, timeout=scaled(30))
    for ch in list(node.channels.values()):
        if ch.direction == "inbound":
            await client.api(f"uuid_answer {ch.uuid}")
    for job in jobs:
        await job.wait(scaled(10))


async def test_hupall_hangs_up_in_batches(esl_client: InboundClient, sim_node: Node):
    """Before: every channel's hangup (and its CHANNEL_HANGUP) in one go: 4,000 channels
    held the loop 8 s. Now the probe runs between batches: it sees calls half hung up."""
    await parked_calls(esl_client, sim_node, 4 * HANGUP_BATCH)
    chans = list(sim_node.channels.values())
    async with probe(lambda: sum(c.cause is not None for c in chans)) as seen:
        await esl_client.api("hupall")
        await until(lambda: not sim_node.channels, timeout=scaled(20))
    partial = {n for n in seen if 0 < n < len(chans)}
    assert len(partial) >= 2, sorted(set(seen))


async def test_sendmsg_loops_yield_often(esl_client: InboundClient, sim_node: Node):
    """``loops`` run cooperatively: the probe sees the loop counter advance in small steps
    (every 8 loops at most, was 64)."""
    await parked_calls(esl_client, sim_node, 1)
    callee = next(c for c in sim_node.channels.values() if c.direction == "inbound")
    async with probe(lambda: callee.getvar("current_loop")) as seen:
        await esl_client.sendmsg(callee.uuid, "execute", {
            "execute-app-name": "set", "execute-app-arg": "x=1", "loops": "400"})
        await until(lambda: any(seen) and callee.getvar("total_loops") is None,
                    timeout=scaled(20))
    steps = {int(v) for v in seen if v}
    assert len(steps) >= 400 // 8 - 1, sorted(steps)
    await esl_client.api("hupall")


async def test_big_show_and_eval_answers_are_whole(esl_client: InboundClient,
                                                   sim_node: Node):
    """The big answers formatted off the loop (over 200 rows; an eval over 64 KB) are the
    same answers."""
    await esl_client.api("global_setvar stall_x=ab")
    text = await esl_client.api("eval " + "${stall_x}." * 10_000)
    assert text == "ab." * 10_000
    await parked_calls(esl_client, sim_node, 110)
    xml = await esl_client.api("show channels as xml")
    assert xml.startswith('<result row_count="220">') and xml.count("<row ") == 220
    js = await esl_client.api("show calls as json")
    assert '"row_count":' in js
    await esl_client.api("hupall")
