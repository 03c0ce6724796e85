"""A service: apps run over a cluster of FreeSWITCH (or embedded) nodes.

>>> svc = Service(["127.0.0.1", "127.0.0.2:8021"])           # doctest: +SKIP
>>> await svc.apps.load_app(TonePlay, on_value="tone")        # loaded at once or on run()
>>> await svc.run()                                           # connected; returns
>>> await svc.pool.next().originate("1000@127.0.0.2:5080", app_id="tone")
>>> await svc.stop()

``await svc.run(block=True)`` instead serves until :meth:`Service.stop` is called (from
another task, a signal handler or an app). ``async with Service(...) as svc:`` runs it
for the duration of the block.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from .client import Client
from .manager import AppManager
from .pool import NodePool, split_contact


class Service:
    """Clients for a set of nodes (:attr:`pool`) and the apps loaded on all of them."""

    def __init__(self, contacts: Any, *, port: int = 8021, auth: str = "ClueCon",
                 **client_kwargs: Any) -> None:
        single = (isinstance(contacts, (str, Client)) or hasattr(contacts, "esl_port")
                  or hasattr(contacts, "nodes") or not isinstance(contacts, Iterable)
                  or (isinstance(contacts, tuple) and len(contacts) == 2
                      and isinstance(contacts[1], int)))
        self.pool = NodePool()
        for contact in [contacts] if single else contacts:
            if isinstance(contact, Client):
                self.pool.add(contact)
                continue
            for host, p, password in split_contact(contact, port, auth):
                self.pool.add(Client(host, p, password, **client_kwargs))
        if not len(self.pool):
            raise ValueError("a Service needs at least one node to talk to")
        self.apps = AppManager(self.pool)
        self._stopped: asyncio.Event | None = None
        self._running = False

    def __repr__(self) -> str:
        state = "running" if self._running else "stopped"
        return f"<Service {state} nodes={self.pool.names} apps={list(self.apps.apps)}>"

    @property
    def running(self) -> bool:
        return self._running

    def is_alive(self) -> bool:
        """switchio's name for :attr:`running`."""
        return self._running

    async def run(self, block: bool = False) -> Service:
        """Connect to every node (apps already loaded get their events).

        With ``block=False`` return once connected; with ``block=True`` serve until
        :meth:`stop` (or until this task is cancelled, which also stops the service).
        """
        if not self._running:
            self._stopped = asyncio.Event()
            await self.pool.connect()
            self._running = True
        if block:
            stopped = self._stopped
            assert stopped is not None
            try:
                await stopped.wait()
            finally:
                if self._running:  # cancelled rather than stopped
                    await asyncio.shield(self.stop())
        return self

    async def stop(self) -> None:
        """Unload the apps and disconnect from every node. Idempotent."""
        if not self._running:
            return
        self._running = False
        try:
            await self.pool.disconnect()
        finally:
            if self._stopped is not None:
                self._stopped.set()

    async def __aenter__(self) -> Service:
        return await self.run()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


__all__ = ["Service"]
