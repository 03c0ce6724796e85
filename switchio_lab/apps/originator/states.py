"""The Originator's states, and the channel variable that tags its calls."""

INITIAL = "INITIAL"
ORIGINATING = "ORIGINATING"
STOPPED = "STOPPED"
STATES = (INITIAL, ORIGINATING, STOPPED)

#: the channel variable that tags every call of an Originator (``hupall`` uses it)
ORIGINATOR_VAR = "switchio_originator"

__all__ = ["INITIAL", "ORIGINATING", "ORIGINATOR_VAR", "STATES", "STOPPED"]
