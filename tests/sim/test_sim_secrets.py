"""The embedded switch keeps its password to itself: not in a repr, not in its logs."""

from __future__ import annotations

import asyncio
import logging

from switchio_lab.sim import Node, NodeConfig
from switchio_lab.testing import pause, scaled

SECRET = "Sw0rdfish-42"


def test_node_config_repr_hides_the_password() -> None:
    config = NodeConfig(password=SECRET)
    assert SECRET not in repr(config) and SECRET not in str(config)
    assert config.password == SECRET


async def test_a_malformed_auth_block_does_not_log_the_password(caplog) -> None:
    node = await Node(NodeConfig(esl_port=0, password=SECRET)).start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", node.esl_port)
        await asyncio.wait_for(reader.readuntil(b"\n\n"), scaled(5))
        with caplog.at_level(logging.DEBUG):
            writer.write(f"auth {SECRET}\nContent-Length: oops\n\n".encode())
            reply = await asyncio.wait_for(reader.read(), scaled(5))  # the switch closes
        assert b"-ERR" in reply and SECRET.encode() not in reply
        assert "bad input from client" in caplog.text
        assert SECRET not in caplog.text
        writer.close()
    finally:
        await node.stop()


async def test_commands_before_a_malformed_block_still_run() -> None:
    node = await Node(NodeConfig(esl_port=0)).start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", node.esl_port)
        await asyncio.wait_for(reader.readuntil(b"\n\n"), scaled(5))
        writer.write(b"auth ClueCon\n\napi hostname\n\nx: y\nContent-Length: z\n\n")
        reply = await asyncio.wait_for(reader.read(), scaled(5))
        assert b"+OK accepted" in reply and b"api/response" in reply  # both ran, then -ERR
        assert reply.index(b"api/response") < reply.index(b"-ERR bad Content-Length")
        writer.close()
    finally:
        await node.stop()


async def test_a_connection_that_never_authenticates_is_dropped() -> None:
    node = await Node(NodeConfig(esl_port=0, auth_timeout=scaled(0.3))).start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", node.esl_port)
        idle = await asyncio.wait_for(reader.read(), scaled(5))  # EOF: the switch closed it
        assert idle.startswith(b"Content-Type: auth/request") and b"disconnect-notice" in idle
        writer.close()
        # an authenticated one stays past the timeout
        r2, w2 = await asyncio.open_connection("127.0.0.1", node.esl_port)
        await r2.readuntil(b"\n\n")
        w2.write(b"auth ClueCon\n\n")
        await r2.readuntil(b"\n\n")
        await pause(0.5)
        w2.write(b"api hostname\n\n")
        assert b"api/response" in await asyncio.wait_for(r2.readuntil(b"\n\n"), scaled(5))
        w2.close()
    finally:
        await node.stop()
