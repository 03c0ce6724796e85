"""Old name of :mod:`fake_server`'s transcript replay (kept so old imports work)."""

from fake_server import ReplayServer, ScriptedServer, load_transcript

__all__ = ["ReplayServer", "ScriptedServer", "load_transcript"]
