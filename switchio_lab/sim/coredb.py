"""FreeSWITCH's core database, as ``show channels`` and ``show calls`` see it.

FreeSWITCH answers ``show channels`` from its core database (the ``channels`` table),
which a queue manager writes in batches: a new channel's row appears some tens of ms
after its CHANNEL_CREATE, and a gone channel's row stays until a while after its
CHANNEL_DESTROY (the ``show_channels_lag`` capture: both legs of a new call counted
together 33-85 ms after the callee's CHANNEL_CREATE; after a kill both still counted
until ~170 ms after the last CHANNEL_DESTROY). This module keeps that lagging view.

A write (a row to add or drop) waits for its batch: the first write queued starts the
batch's timer (``show_channels_add`` or ``show_channels_drop`` seconds), and every write
queued before it fires is committed with it, so two legs created a few ms apart appear
in the same ``show channels``.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from .config import sample

if TYPE_CHECKING:
    from .channel import Channel
    from .node import Node


class CoreDB:
    """The channels ``show channels`` lists: :attr:`rows`, by uuid, in creation order."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.rows: dict[str, Channel] = {}
        self._adds: list[Channel] = []
        self._drops: list[Channel] = []
        self._add_timer: asyncio.TimerHandle | None = None
        self._drop_timer: asyncio.TimerHandle | None = None
        self._closed = False

    def channels(self) -> list[Channel]:
        """The channels listed now, oldest first."""
        return sorted(self.rows.values(), key=lambda c: c.created)

    # -- writes ---------------------------------------------------------------------------
    def added(self, ch: Channel) -> None:
        """``ch`` was created: its row comes with the next batch of inserts."""
        delay = 0.0 if self._closed else sample(self.node.config.show_channels_add)
        if delay <= 0:
            self.rows[ch.uuid] = ch
            return
        self._adds.append(ch)
        if self._add_timer is None:
            self._add_timer = asyncio.get_running_loop().call_later(delay, self._commit_adds)

    def removed(self, ch: Channel) -> None:
        """``ch`` was destroyed: its row goes with the next batch of deletes."""
        delay = 0.0 if self._closed else sample(self.node.config.show_channels_drop)
        if delay <= 0:
            self._drop(ch)
            return
        self._drops.append(ch)
        if self._drop_timer is None:
            self._drop_timer = asyncio.get_running_loop().call_later(delay, self._commit_drops)

    def _drop(self, ch: Channel) -> None:
        self.rows.pop(ch.uuid, None)
        if ch in self._adds:  # gone before its row was written: the insert and delete cancel
            self._adds.remove(ch)

    def _commit_adds(self) -> None:
        self._add_timer = None
        adds, self._adds = self._adds, []
        for ch in adds:
            self.rows[ch.uuid] = ch

    def _commit_drops(self) -> None:
        self._drop_timer = None
        drops, self._drops = self._drops, []
        for ch in drops:
            self._drop(ch)

    def close(self) -> None:
        """The node stops: commit what is pending, and write at once from now on."""
        self._closed = True
        for timer in (self._add_timer, self._drop_timer):
            if timer is not None:
                timer.cancel()
        self._commit_adds()
        self._commit_drops()

    def reopen(self) -> None:
        self._closed = False
