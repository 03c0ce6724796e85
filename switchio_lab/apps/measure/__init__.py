"""Old path of the CDR app, kept as an alias: the app lives in :mod:`switchio_lab.apps.cdr`."""

from ..cdr import CDR, CDR_DTYPES, CDR_SCHEMA, CDR_TABLE, TIME_COLUMNS
from . import cdr

__all__ = ["CDR", "CDR_DTYPES", "CDR_SCHEMA", "CDR_TABLE", "TIME_COLUMNS", "cdr"]
