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
    "event_callback", "get_client", "handler",
]
