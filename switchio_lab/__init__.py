"""switchio-lab: an interactive FreeSWITCH telephony lab for Jupyter.

The seed's app API at top level: ``import switchio_lab as switchio`` then
``@switchio.callback("CHANNEL_ANSWER")``, ``switchio.Client(...)``.
"""

__version__ = "0.1.0"

from .api import AppError, Client, get_client
from .apps import AppManager
from .handlers import EventListener
from .marks import callback, coroutine, event_callback, handler
from .models import Call, Job, Session, SessionEnded
from .pool import NodePool, PoolError
from .service import Service

__all__ = [
    "AppError", "AppManager", "Call", "Client", "EventListener", "Job", "NodePool",
    "PoolError", "Service", "Session", "SessionEnded", "__version__", "callback", "coroutine",
    "event_callback", "get_client", "handler", "load_ipython_extension",
]


def load_ipython_extension(ipython: object) -> None:
    """``%load_ext switchio_lab``: the ``%%app``, ``%esl`` and ``%lab`` magics
    (see :mod:`switchio_lab.lab.magics`)."""
    from .lab.magics import load_ipython_extension as load

    load(ipython)
