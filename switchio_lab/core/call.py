"""A call: the sessions (legs) the listener associates by its call tracking header."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .listener import AppVersion
    from .session import Session


class Call:
    """The sessions of one call, associated by the listener's call tracking header."""

    def __init__(self, uuid: str, session: Session) -> None:
        self.uuid = uuid
        self.sessions: list[Session] = [session]
        self.vars: dict[str, Any] = {}
        self.app: AppVersion | None = session.app

    @property
    def first(self) -> Session:
        return self.sessions[0]

    @property
    def last(self) -> Session:
        return self.sessions[-1]

    def append(self, sess: Session) -> None:
        if sess not in self.sessions:
            self.sessions.append(sess)

    def get_peer(self, sess: Session) -> Session | None:
        """The other leg of a two-leg call (None if there is none yet)."""
        for other in self.sessions:
            if other is not sess:
                return other
        return None

    def hangup(self, cause: str = "NORMAL_CLEARING") -> None:
        for sess in self.sessions:
            if not sess.hungup:
                sess.hangup(cause)

    @property
    def done(self) -> bool:
        return all(s.destroyed for s in self.sessions)

    def __repr__(self) -> str:
        return f"<Call {self.uuid} legs={len(self.sessions)}>"


__all__ = ["Call"]
