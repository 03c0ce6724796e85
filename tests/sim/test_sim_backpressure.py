"""Every per-connection buffer of the embedded switch is bounded (issue 15).

A client that floods commands (before auth, or behind a blocking ``api``) is read no
faster than its commands run: past a few hundred queued commands the switch stops
reading, TCP pushes back on the client, and nothing is lost (every command is answered
once the client reads). A ``log 7`` client that never reads has its log lines queued up
to the event queue's cap, then lost, then it is dropped, as FreeSWITCH drops listeners.
"""

from __future__ import annotations

import asyncio
import socket

from switchio_lab.sim import Node, NodeConfig
from switchio_lab.sim.listener import QUEUE_HIGH
from switchio_lab.testing import scaled, until

CHUNK = 256 * 1024  # what one read of the switch can bring: commands parsed at once
WRITE_HIGH = 4 * 1024 * 1024


def the_listener(node):
    (listener,) = node.connections
    return listener


async def flood(writer, command: bytes, total: int) -> int:
    """Send ``command`` until ``total`` bytes or until TCP stops taking them; how many."""
    sent = 0
    block = command * (64 * 1024 // len(command))
    while sent < total:
        writer.write(block)
        try:
            await asyncio.wait_for(writer.drain(), scaled(1))
        except asyncio.TimeoutError:
            return (sent + len(block)) // len(command)  # the switch has stopped reading
        sent += len(block)
    return sent // len(command)


async def read_replies(reader, count: int, text: bytes) -> int:
    """Read until ``count`` complete frames contain ``text``; how many did."""
    seen = 0
    rest = b""
    while seen < count:
        *frames, rest = (rest + await asyncio.wait_for(reader.read(1 << 20), scaled(20))
                         ).split(b"\n\n")
        seen += sum(text in frame for frame in frames)
    return seen


async def test_a_flood_before_auth_is_read_no_faster_than_it_is_answered(sim_node) -> None:
    reader, writer = await asyncio.open_connection(sim_node.host, sim_node.esl_port)
    # a small send buffer on our side: TCP pushes back sooner (the switch's is the kernel's)
    writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 32768)
    try:
        await reader.readuntil(b"\n\n")  # auth/request
        sent = await flood(writer, b"x\n\n", 16 * 1024 * 1024)
        listener = the_listener(sim_node)
        assert listener.reading_paused  # the switch stopped reading: TCP holds the rest
        assert sent < 16 * 1024 * 1024 // 3  # the client could not push it all
        assert listener.queue.qsize() <= QUEUE_HIGH + CHUNK // 3
        assert listener.transport.get_write_buffer_size() <= WRITE_HIGH + CHUNK
        # it goes on answering, in order, as the client reads (all of them: the next test)
        assert await read_replies(reader, 1000, b"-ERR command not found") >= 1000
    finally:
        writer.close()


async def test_commands_behind_a_blocking_api_are_bounded(sim_node) -> None:
    reader, writer = await asyncio.open_connection(sim_node.host, sim_node.esl_port)
    try:
        await reader.readuntil(b"\n\n")
        writer.write(b"auth ClueCon\n\n")
        await reader.readuntil(b"+OK accepted\n\n")
        # rings a parked callee that never answers: the api holds the connection
        writer.write(b"api originate {originate_timeout=60}sofia/external/park@"
                     + sim_node.sip_address().encode() + b" &park()\n\n")
        command = b"noevents\n\n"
        sent = await flood(writer, command, 300 * 1024)  # 30k commands, read at once
        listener = the_listener(sim_node)
        assert listener.reading_paused
        assert listener.queue.qsize() <= QUEUE_HIGH + CHUNK // len(command)
        for ch in list(sim_node.channels.values()):  # the api returns: the queue drains
            ch.hangup("NORMAL_CLEARING")
        # nothing lost: every command the client managed to send is answered, in order
        answered = await read_replies(reader, sent, b"-ERR not listening for events")
        assert answered == sent
    finally:
        writer.close()


async def test_a_log_client_that_never_reads_is_capped_then_dropped() -> None:
    node = await Node(NodeConfig(esl_port=0, listener_queue=1000)).start()
    try:
        reader, writer = await asyncio.open_connection(node.host, node.esl_port)
        await reader.readuntil(b"\n\n")
        writer.write(b"auth ClueCon\n\nlog 7\n\n")
        await reader.readuntil(b"+OK accepted\n\n")
        await reader.readuntil(b"\n\n")
        listener = the_listener(node)
        line = "x" * 200
        for i in range(200_000):  # ~60 MB of log lines, never read
            node.log(7, line)
            if listener.transport.is_closing():
                break
            assert len(listener.log_backlog) <= 1000
            if i % 1000 == 0:
                await asyncio.sleep(0)
        await until(lambda: not node.connections)
        assert listener.lost_logs == node.config.listener_max_lost + 1
        writer.close()
    finally:
        await node.stop()
