"""The :class:`NodePool` lives in :mod:`switchio_lab.core.pool` (this path is kept)."""

from .core.pool import NodePool, PoolError, split_contact

__all__ = ["NodePool", "PoolError", "split_contact"]
