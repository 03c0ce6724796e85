"""switchio's ``switchio.marks``: ``@callback``, ``@coroutine``, ``@handler`` (they live in
:mod:`switchio_lab.core.marks`; this path is the one apps use)."""

from .core.marks import (
    EVENTS_ATTR,
    KIND_ATTR,
    KINDS,
    SUBSCRIBE_ATTR,
    callback,
    coroutine,
    event_callback,
    get_callbacks,
    handler,
    has_callbacks,
    marker,
    subscriptions,
)

__all__ = ["EVENTS_ATTR", "KINDS", "KIND_ATTR", "SUBSCRIBE_ATTR", "callback", "coroutine",
           "event_callback", "get_callbacks", "handler", "has_callbacks", "marker",
           "subscriptions"]
