"""switchio's blocking API, unchanged: ``import switchio_lab.compat as switchio``.

Runs one background event-loop thread, as switchio did, so scripts and pytest suites
written for switchio -- blocking calls, ``time.sleep`` between them -- work while events
flow. The apps API (marks, ``Session``, ``Router``, the built-in apps) is the core's, the
same as switchio's. See ``docs/migrating.rst`` for every difference that remains.
"""

from __future__ import annotations

from .. import apps  # noqa: F401  (switchio.apps.players.TonePlay ...)
from ..apps import AppManager
from ..connection.errors import ConnectError as ConnectionError  # noqa: A001
from ..core import SessionEnded
from ..core.marks import callback, coroutine, event_callback, handler
from . import api, loop, utils  # noqa: F401
from .api import Client, Connection, MultiEval, SlavePool, get_client, get_connection, get_pool
from .bert import Bert
from .listener import EventListener, get_listener
from .models import Call, Job, Session
from .originator import Originator, get_originator
from .service import Service
from .sync import sync_caller
from .utils import APIError, ConfigurationError

__all__ = [
    "APIError", "AppManager", "Bert", "Call", "Client", "ConfigurationError", "Connection",
    "ConnectionError", "EventListener", "Job", "MultiEval", "Originator", "Service",
    "Session", "SessionEnded", "SlavePool", "callback", "coroutine", "event_callback",
    "get_client", "get_connection", "get_listener", "get_originator", "get_pool", "handler",
    "sync_caller",
]
