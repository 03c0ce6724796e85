"""The apps layer: the built-in apps, the Originator auto-dialer and the CDR app.

The built-in apps register themselves on import, so ``get("TonePlay")`` and
``load_app("Router")`` find them by name. The :class:`AppManager` and the registry belong to
the call-control core (:mod:`switchio_lab.core.manager`, :mod:`switchio_lab.core.registry`);
they are re-exported here, where switchio had them (``switchio.apps.AppManager``).
"""

from __future__ import annotations

from ..core.manager import AppManager
from ..core.registry import app, get, register, registry
from . import bert, blockers, cdr, dtmf, players, routers  # noqa: F401  (they register)
from .originator import Originator, get_originator

__all__ = ["AppManager", "Originator", "app", "get", "get_originator", "register", "registry"]
