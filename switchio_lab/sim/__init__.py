"""The embedded switch: a FreeSWITCH-compatible Event Socket server with a channel engine.

>>> async with await Cluster.start(2, esl_port=0) as cluster:  # doctest: +SKIP
...     node = cluster[0]   # node.host, node.esl_port, node.sip_address("external")

Everything speaks the real wire protocol over loopback TCP, so the client (and any ESL
tool) cannot tell it from a FreeSWITCH; the golden captures are its acceptance test.
"""

from .config import PARK_ALL, NodeConfig, Rule
from .node import Cluster, Node

__all__ = ["PARK_ALL", "Cluster", "Node", "NodeConfig", "Rule"]
