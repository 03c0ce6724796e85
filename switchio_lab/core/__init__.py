"""The call-control core: marks, sessions and calls, the event listener, the client, pools of
nodes, the app manager and registry, services, and the synchronous API.

One module per idea, imports only downward (``errors`` → ``marks`` → ``session``/``call`` →
``listener`` → ``pool`` → ``client`` → ``registry``/``manager`` → ``service`` → ``sync``);
the core leans on :mod:`switchio_lab.connection` and :mod:`switchio_lab.esl` only. switchio's
module paths (``switchio_lab.api``, ``.handlers``, ``.models``, ``.marks``, ``.pool``,
``.service``, ``.sync``) are kept as thin aliases of these modules.
"""

from ..connection import Job
from .call import Call
from .client import Client, get_client
from .errors import AppError, OriginateError, PoolError, SessionEnded, SwitchioError
from .listener import AppVersion, EventListener
from .manager import AppManager
from .pool import NodePool, split_contact
from .registry import app, register, registry
from .service import Service
from .session import Session

__all__ = [
    "AppError", "AppManager", "AppVersion", "Call", "Client", "EventListener", "Job",
    "NodePool", "OriginateError", "PoolError", "Service", "Session", "SessionEnded",
    "SwitchioError", "app", "get_client", "register", "registry", "split_contact",
]
