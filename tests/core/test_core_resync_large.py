"""The reconnect resync reads ``show channels as json`` whatever its size.

At ~0.9 KB per channel the answer passes the client's 16 MiB frame cap near 19,000
channels; a resync must still work at 50,000 (issue 15). The cap is raised for that one
answer only: every other frame keeps it.
"""

from __future__ import annotations

import json

import pytest
from fake_server import scripted_server, standard_reply

import switchio_lab as switchio
from switchio_lab.connection import ConnectionLost, InboundClient
from switchio_lab.esl import MAX_FRAME, Event, replies
from switchio_lab.testing import until


async def channel_row(sim_node, sim_client) -> dict:
    """One real row of the embedded switch's ``show channels as json`` (a parked call)."""
    await sim_client.originate(f"park@{sim_node.sip_address()}")  # rings, parked: 2 legs
    await until(lambda: len(sim_node.channels) == 2)
    rows: list = []

    async def listed() -> bool:  # show channels lags CREATE, as FreeSWITCH's core db does
        rows[:] = json.loads(await sim_client.api("show channels as json")).get("rows") or []
        return len(rows) == 2

    await until(listed)
    return rows[0]


def big_answer(row: dict, size: int) -> tuple[str, list[str]]:
    """``show channels as json`` with enough copies of ``row`` to exceed ``size`` bytes."""
    per_row = len(json.dumps(row)) + 1
    count = size // per_row + 1
    uuids = [f"{i:08x}-0000-4000-8000-000000000000" for i in range(count)]
    rows = [{**row, "uuid": u, "call_uuid": u} for u in uuids]
    return json.dumps({"row_count": count, "rows": rows}), uuids


async def test_a_resync_reads_an_answer_beyond_the_frame_cap(sim_node, sim_client) -> None:
    row = await channel_row(sim_node, sim_client)
    text, uuids = big_answer(row, MAX_FRAME + MAX_FRAME // 4)  # ~20 MiB, ~23k channels
    assert len(text) > MAX_FRAME
    dumps: list[str] = []

    def reply(cmd, index):
        if cmd.name == "api" and cmd.args == "show channels as json":
            return replies.api_response(text)
        if cmd.name == "api" and cmd.args.startswith("uuid_dump "):
            dumps.append(cmd.args.split()[1])
            return replies.api_response("-ERR No such channel!\n")  # hung up meanwhile
        return standard_reply(cmd, index)

    async with scripted_server(reply) as server:
        client = switchio.Client("127.0.0.1", server.port, reconnect=False)
        await client.connect()
        try:
            result = await client.listener.resync()
            assert client.listener.resyncs == 1  # it completed
            assert result == {"kept": [], "lost": [], "adopted": []}
            assert dumps == uuids  # every channel it did not know was asked about
            assert client.connected  # the large answer cost nothing
        finally:
            await client.disconnect()


async def test_only_the_command_that_asked_gets_the_larger_cap() -> None:
    body = "x" * (MAX_FRAME + 1)

    def reply(cmd, index):
        if cmd.name == "api" and cmd.args == "big":
            return replies.api_response(body)
        if cmd.name == "api" and cmd.args == "big event":  # a huge event follows the reply
            huge = Event.from_headers({"Event-Name": "CUSTOM"}, body)
            return replies.api_response("+OK\n") + replies.event(huge)
        return standard_reply(cmd, index)

    async with scripted_server(reply) as server:
        conn = InboundClient("127.0.0.1", server.port, reconnect=False)
        await conn.connect()
        try:
            assert await conn.api("big", max_reply=64 * 1024 * 1024) == body
            assert await conn.api("status") == "api:status"  # the stream is intact
            await conn.api("big event")
            await until(lambda: not conn.connected)  # an event beyond the cap still ends it
        finally:
            await conn.close()

    async with scripted_server(reply) as server:
        conn = InboundClient("127.0.0.1", server.port, reconnect=False)
        await conn.connect()
        try:
            with pytest.raises(ConnectionLost, match="exceeds the 16777216-byte cap"):
                await conn.api("big")  # not asked for: the cap holds
        finally:
            await conn.close()
