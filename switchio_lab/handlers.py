"""switchio's ``switchio.handlers`` path: the :class:`EventListener` lives in
:mod:`switchio_lab.core.listener`."""

from .core.listener import (
    TRACKING_EVENTS,
    AppVersion,
    EventListener,
    event_words,
    prepost_arguments,
)

__all__ = ["TRACKING_EVENTS", "AppVersion", "EventListener", "event_words", "prepost_arguments"]
