"""The FreeSWITCH Event Socket wire protocol, sans-I/O.

Bytes in, frames and events out; commands in, bytes out. No sockets, no asyncio: the
client (:mod:`switchio_lab.connection`) and the embedded switch share this codec.

>>> from switchio_lab.esl import Parser, commands
>>> frames = Parser().feed(b"Content-Type: command/reply\\nReply-Text: +OK accepted\\n\\n")
>>> frames[0].reply_text
'+OK accepted'
>>> commands.api("status")
b'api status\\n\\n'
"""

from . import commands, replies
from .encoding import url_decode, url_encode
from .errors import EventDecodeError, FrameTooLarge, ProtocolError
from .events import FORMATS, JSON, PLAIN, XML, Event
from .frames import (
    API_RESPONSE,
    AUTH_REQUEST,
    COMMAND_REPLY,
    DISCONNECT_NOTICE,
    EVENT_JSON,
    EVENT_PLAIN,
    EVENT_XML,
    LOG_DATA,
    RUDE_REJECTION,
    Command,
    Frame,
)
from .parser import MAX_FRAME, CommandParser, Parser

__all__ = [
    "API_RESPONSE", "AUTH_REQUEST", "COMMAND_REPLY", "DISCONNECT_NOTICE", "EVENT_JSON",
    "EVENT_PLAIN", "EVENT_XML", "FORMATS", "JSON", "LOG_DATA", "MAX_FRAME", "PLAIN",
    "RUDE_REJECTION", "XML", "Command", "CommandParser", "Event", "EventDecodeError", "Frame",
    "FrameTooLarge", "Parser", "ProtocolError", "commands", "replies", "url_decode",
    "url_encode",
]
