"""pytest fixtures for testing call flows against the embedded switch (a pytest plugin).

Installed with the package (entry point ``pytest11``), so a project that depends on
switchio-lab gets, in any ``async def`` test (pytest-asyncio):

- ``sim_node``: one started :class:`~switchio_lab.sim.Node` on 127.0.0.1, free ESL port;
- ``sim_cluster``: two nodes, on 127.0.0.1 and 127.0.0.2 (free ESL ports), that call
  each other at ``node.sip_address("external")``;
- ``esl_client``: an :class:`~switchio_lab.connection.InboundClient` connected to
  ``sim_node``;
- ``connect``: a factory, ``await connect(node, **kwargs)``, for more clients (all closed
  at teardown);
- ``sim_clients``: one connected :class:`~switchio_lab.Client` (the call-control client)
  per node of ``sim_cluster``.

- ``sim_client``: a connected :class:`~switchio_lab.Client` for ``sim_node``.

And :func:`until`, to wait in a test for state that servers and clients keep, and
:func:`scaled`, for every other timeout, sleep or time bound in a test.

Timing: ``$SWITCHIO_LAB_TIME_SCALE`` (a float, default 1.0) multiplies every time
:func:`scaled` returns, hence :func:`until`'s default timeout: set it to 3 or 5 on a
loaded or slow machine (CI, two cores shared) instead of editing timeouts.
"""

from __future__ import annotations

import asyncio
import inspect
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

try:
    import pytest_asyncio
except ImportError:  # pragma: no cover - the plugin then offers nothing
    pytest_asyncio = None

from ..connection import InboundClient
from ..core import Client
from ..sim import Cluster, Node, NodeConfig

Connect = Callable[..., Awaitable[InboundClient]]


TIME_SCALE_ENV = "SWITCHIO_LAB_TIME_SCALE"


def time_scale() -> float:
    """The factor from ``$SWITCHIO_LAB_TIME_SCALE`` (default 1.0; must be > 0)."""
    raw = os.environ.get(TIME_SCALE_ENV, "").strip()
    if not raw:
        return 1.0
    value = float(raw)
    if value <= 0:
        raise ValueError(f"${TIME_SCALE_ENV} must be > 0, not {raw!r}")
    return value


def scaled(seconds: float) -> float:
    """``seconds`` times the time scale: use it for every timeout, sleep and bound in tests."""
    return seconds * time_scale()


async def pause(seconds: float) -> None:
    """Sleep ``scaled(seconds)``: for the waits in which something must *not* happen (a
    positive condition is waited for with :func:`until`)."""
    await asyncio.sleep(scaled(seconds))


class UntilTimeout(AssertionError):
    """:func:`until`'s condition did not become true in time."""


def _describe(pred: Callable[[], object]) -> str:
    name = getattr(pred, "__qualname__", repr(pred))
    code = getattr(pred, "__code__", None)
    if code is not None and name.endswith("<lambda>"):
        return f"{name} ({code.co_filename.rsplit('/', 1)[-1]}:{code.co_firstlineno})"
    return name


async def until(pred: Callable[[], object], timeout: float | None = None,
                step: float = 0.005) -> None:
    """Wait until ``pred()`` is true (``pred`` may be a coroutine function: its result is
    awaited, e.g. an api round trip per poll).

    ``timeout`` defaults to ``scaled(5.0)`` (an explicit one is taken as is: scale it
    yourself); past it :class:`UntilTimeout` (an :class:`AssertionError`) names ``pred``.
    """
    limit = scaled(5.0) if timeout is None else timeout
    loop = asyncio.get_running_loop()
    end = loop.time() + limit

    async def holds() -> object:
        ok = pred()
        return (await ok) if inspect.isawaitable(ok) else ok

    while not await holds():
        if loop.time() > end:
            raise UntilTimeout(f"condition {_describe(pred)} not met within {limit:g} s")
        await asyncio.sleep(step)


if pytest_asyncio is not None:

    @pytest_asyncio.fixture
    async def sim_node() -> AsyncIterator[Node]:
        """A running embedded node (127.0.0.1, ESL on a free port, password ClueCon)."""
        node = await Node(NodeConfig(esl_port=0, hostname="switchio-lab-1")).start()
        try:
            yield node
        finally:
            await node.stop()

    @pytest_asyncio.fixture
    async def sim_cluster() -> AsyncIterator[Cluster]:
        """Two running nodes on 127.0.0.1 and 127.0.0.2 that can call each other."""
        cluster = await Cluster.start(2, esl_port=0)
        try:
            yield cluster
        finally:
            await cluster.stop()

    @pytest_asyncio.fixture
    async def connect() -> AsyncIterator[Connect]:
        """``await connect(node_or_host, port=None, **kwargs)`` -> a connected client."""
        clients: list[InboundClient] = []

        async def make(target: Node | str, port: int | None = None, **kwargs: Any
                       ) -> InboundClient:
            if isinstance(target, Node):
                host, port = target.host, target.esl_port
                kwargs.setdefault("password", target.config.password)
            else:
                host = target
            kwargs.setdefault("reconnect", False)
            client = InboundClient(host, port or 8021, **kwargs)
            await client.connect()
            clients.append(client)
            return client

        try:
            yield make
        finally:
            for client in clients:
                await client.close()

    @pytest_asyncio.fixture
    async def sim_clients(sim_cluster: Cluster) -> AsyncIterator[list[Client]]:
        """One connected :class:`~switchio_lab.Client` per node of ``sim_cluster``."""
        made: list[Client] = []
        try:
            for node in sim_cluster:
                made.append(await Client(node.host, node.esl_port, reconnect=False).connect())
            yield made
        finally:
            for client in made:
                await client.disconnect()

    @pytest_asyncio.fixture
    async def sim_client(sim_node: Node) -> AsyncIterator[Client]:
        """A connected :class:`~switchio_lab.Client` for ``sim_node`` (no reconnect)."""
        client = Client(sim_node.host, sim_node.esl_port, reconnect=False)
        await client.connect()
        try:
            yield client
        finally:
            await client.disconnect()

    @pytest_asyncio.fixture
    async def esl_client(sim_node: Node, connect: Connect) -> InboundClient:
        """A client connected to ``sim_node``."""
        return await connect(sim_node)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "switchio_lab: tests that use the embedded switch fixtures")
