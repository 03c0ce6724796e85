"""The :class:`Service` lives in :mod:`switchio_lab.core.service` (this path is kept)."""

from .core.service import Service

__all__ = ["Service"]
