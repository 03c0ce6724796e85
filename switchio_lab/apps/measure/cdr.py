"""switchio's path of the CDR app (``switchio.apps.measure.cdr.CDR``), kept as an alias."""

from ...apps.cdr import CDR, CDR_DTYPES, CDR_SCHEMA, CDR_TABLE, TIME_COLUMNS

__all__ = ["CDR", "CDR_DTYPES", "CDR_SCHEMA", "CDR_TABLE", "TIME_COLUMNS"]
