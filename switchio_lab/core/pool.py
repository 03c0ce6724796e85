"""A pool of clients, one per FreeSWITCH node: run the same thing on every node.

switchio called this ``SlavePool``/``MultiEval`` and evaluated strings of Python on each
client (``pool.evals("client.host")``). Here you pass a plain function instead::

    pool = NodePool([Client("127.0.0.1"), Client("127.0.0.2")])
    await pool.connect()
    await pool.api("status")                         # {"127.0.0.1": "UP ...", ...}
    await pool.map(lambda c: c.listener.count_calls())   # {"127.0.0.1": 0, ...}
    await pool.map(lambda c: c.originate("1000@127.0.0.3:5080"))  # awaited concurrently
    client = pool.next()                             # round-robin, to spread load
    pool["127.0.0.2"]                                # a client by name (or index)

Results are keyed by each client's *name*: its host, or ``host:port`` when several
clients of the pool share a host (e.g. two nodes on 127.0.0.1 with different ports).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from .errors import PoolError

if TYPE_CHECKING:
    from .client import Client

log = logging.getLogger("switchio_lab")


def split_contact(contact: Any, port: int = 8021, auth: str = "ClueCon"
                  ) -> list[tuple[str, int, str]]:
    """``(host, port, password)`` for each node a contact names.

    A contact is a host (``"127.0.0.1"``), ``"host:port"`` (``"[::1]:8021"`` for IPv6),
    a ``(host, port)`` pair, an embedded :class:`~switchio_lab.sim.Node` (already
    started, so its ESL port is known; its own password is used) or a
    :class:`~switchio_lab.sim.Cluster` (every node of it).
    """
    if isinstance(contact, str):
        host, sep, tail = contact.rpartition(":")
        if sep and (host.count(":") == 0 or host.startswith("[")):  # host:port, [v6]:port
            if not (tail.isdigit() and 0 < int(tail) < 65536) or not host.strip("[]"):
                raise ValueError(f"bad contact {contact!r}: expected host or host:port with "
                                 f"a port from 1 to 65535")
            return [(host.strip("[]"), int(tail), auth)]
        return [(contact.strip("[]"), port, auth)]
    if isinstance(contact, tuple) and len(contact) == 2:
        host, p = contact
        return [(str(host), int(p), auth)]
    nodes = getattr(contact, "nodes", None)
    if nodes is not None and not hasattr(contact, "esl_port"):  # a Cluster
        return [c for node in nodes for c in split_contact(node, port, auth)]
    if hasattr(contact, "esl_port") and hasattr(contact, "host"):  # a Node
        if not contact.esl_port:
            raise ValueError(f"{contact!r} has no ESL port yet: start the node first "
                             "(await node.start()) so the port it picked is known")
        config = getattr(contact, "config", None)
        return [(contact.host, int(contact.esl_port), getattr(config, "password", auth))]
    raise TypeError(f"cannot tell which node {contact!r} is: give a host, 'host:port', "
                    "(host, port), a Node or a Cluster")


class NodePool:
    """The clients of a cluster, one per node, with helpers to act on all of them."""

    def __init__(self, clients: Iterable[Client] = ()) -> None:
        self._clients: list[Client] = []
        self._next = 0
        for client in clients:
            self.add(client)

    # -- membership ---------------------------------------------------------------------
    def add(self, client: Client) -> Client:
        """Add ``client`` (a second client for the same host:port is refused)."""
        if any((c.host, c.port) == (client.host, client.port) for c in self._clients):
            raise ValueError(f"the pool already has a client for {client.host}:{client.port}")
        self._clients.append(client)
        client.pool = self  # apps' prepost may ask for the pool by name
        return client

    def remove(self, client: Client | str) -> Client:
        """Take a client (or the client of that name) out of the pool; returns it."""
        client = self[client] if isinstance(client, str) else client
        self._clients.remove(client)
        if client.pool is self:
            client.pool = None
        return client

    @property
    def clients(self) -> list[Client]:
        """The clients, in the order they were added."""
        return list(self._clients)

    @property
    def hosts(self) -> list[str]:
        """The host of each client (same order as :attr:`clients`)."""
        return [c.host for c in self._clients]

    @property
    def names(self) -> list[str]:
        """The name of each client: its host, or ``host:port`` where hosts repeat."""
        return [self.name_of(c) for c in self._clients]

    def name_of(self, client: Client) -> str:
        shared = sum(c.host == client.host for c in self._clients) > 1
        return f"{client.host}:{client.port}" if shared else client.host

    def __len__(self) -> int:
        return len(self._clients)

    def __iter__(self) -> Iterator[Client]:
        return iter(list(self._clients))

    def __contains__(self, item: object) -> bool:
        if isinstance(item, str):
            return self._find(item) is not None
        return item in self._clients

    def __getitem__(self, key: int | str) -> Client:
        """``pool[0]``, ``pool["127.0.0.2"]`` or ``pool["127.0.0.1:8022"]``."""
        if isinstance(key, int):
            return self._clients[key]
        client = self._find(key)
        if client is None:
            raise KeyError(f"no client for {key!r} in the pool (nodes: {self.names})")
        return client

    def _find(self, key: str) -> Client | None:
        exact = [c for c in self._clients if f"{c.host}:{c.port}" == key]
        if exact:
            return exact[0]
        by_host = [c for c in self._clients if c.host == key]
        if len(by_host) > 1:
            raise KeyError(f"{key!r} is ambiguous: the pool has {len(by_host)} clients on "
                           f"that host; use host:port ({self.names})")
        return by_host[0] if by_host else None

    def __repr__(self) -> str:
        return f"<NodePool {self.names}>"

    def next(self) -> Client:
        """The next client, round-robin (to spread calls over the nodes)."""
        if not self._clients:
            raise LookupError("the pool is empty")
        client = self._clients[self._next % len(self._clients)]
        self._next = (self._next + 1) % len(self._clients)
        return client

    # -- acting on every node ---------------------------------------------------------
    async def map(self, func: Callable[[Client], Any], *, return_exceptions: bool = False
                  ) -> dict[str, Any]:
        """``func(client)`` for every client; awaitable results are awaited concurrently.

        Returns ``{name: result}`` in pool order. If any node fails, a :class:`PoolError`
        is raised once every node has finished (so nothing is left running), unless
        ``return_exceptions=True``, which puts the exceptions among the results.
        """
        return await self._map(func, return_exceptions, getattr(func, "__name__", "map"))

    async def _map(self, func: Callable[[Client], Any], return_exceptions: bool, action: str
                   ) -> dict[str, Any]:
        clients = list(self._clients)
        names = [self.name_of(c) for c in clients]

        async def one(client: Client) -> Any:
            result = func(client)
            if inspect.isawaitable(result):
                result = await result
            return result

        outcomes = await asyncio.gather(*(one(c) for c in clients), return_exceptions=True)
        for outcome in outcomes:  # never swallow a cancellation or an interrupt
            if isinstance(outcome, BaseException) and not isinstance(outcome, Exception):
                raise outcome
        results = dict(zip(names, outcomes, strict=True))
        if return_exceptions:
            return results
        errors = {n: r for n, r in results.items() if isinstance(r, BaseException)}
        if errors:
            ok = {n: r for n, r in results.items() if n not in errors}
            raise PoolError(action if action != "<lambda>" else "map", errors, ok) \
                from next(iter(errors.values()))
        return results

    async def api(self, cmd: str, **kwargs: Any) -> dict[str, str]:
        """``api <cmd>`` on every node: ``{name: body}``."""
        return await self._map(lambda c: c.api(cmd, **kwargs), False, f"api {cmd!r}")

    async def connect(self) -> NodePool:
        """Connect every client (concurrently); if one fails the others are disconnected."""
        results = await self.map(lambda c: c.connect(), return_exceptions=True)
        errors = {n: r for n, r in results.items() if isinstance(r, BaseException)}
        if errors:
            await self.disconnect()
            raise PoolError("connect", errors,
                            {n: r for n, r in results.items() if n not in errors}) \
                from next(iter(errors.values()))
        return self

    async def disconnect(self) -> None:
        """Disconnect every client (their apps are unloaded); errors are logged."""
        results = await self.map(lambda c: c.disconnect(), return_exceptions=True)
        for name, result in results.items():
            if isinstance(result, BaseException):
                log.warning("pool: disconnecting %s failed: %r", name, result)

    @property
    def connected(self) -> bool:
        """True when every client is connected (and the pool is not empty)."""
        return bool(self._clients) and all(c.connected for c in self._clients)

    async def __aenter__(self) -> NodePool:
        return await self.connect()

    async def __aexit__(self, *exc: object) -> None:
        await self.disconnect()


__all__ = ["NodePool", "PoolError", "split_contact"]
