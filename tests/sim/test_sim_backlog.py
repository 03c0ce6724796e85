"""1,000 clients connecting at once all get their ``auth/request`` (asyncio's default
listen backlog of 100 left 2-16 % of them connected at the TCP level but never greeted)."""

from __future__ import annotations

import asyncio

from switchio_lab.testing import scaled

CLIENTS = 1000


async def greeted(host: str, port: int) -> bool:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\n\n"), scaled(20))
        return head == b"Content-Type: auth/request\n\n"
    except (asyncio.TimeoutError, asyncio.IncompleteReadError):
        return False
    finally:
        writer.close()


async def test_a_thousand_simultaneous_connects_are_all_greeted(sim_node) -> None:
    results = await asyncio.gather(*(greeted(sim_node.host, sim_node.esl_port)
                                     for _ in range(CLIENTS)), return_exceptions=True)
    failed = [r for r in results if r is not True]
    assert not failed, f"{len(failed)} of {CLIENTS} not greeted: {failed[:3]}"
