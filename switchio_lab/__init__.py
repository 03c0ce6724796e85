"""switchio-lab: an interactive FreeSWITCH telephony lab for Jupyter."""

__version__ = "0.1.0"
