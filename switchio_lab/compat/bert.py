"""switchio's ``Bert``: loads on a switch without ``mod_bert``, with a warning.

The core's :class:`~switchio_lab.apps.bert.Bert` refuses to load there (a load test whose
every call silently runs no bit error test measures nothing); switchio loaded it anyway,
so this one does too, and warns.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

from ..apps.bert import Bert as CoreBert
from ..core.errors import AppError

log = logging.getLogger("switchio_lab")


class Bert(CoreBert):
    """:class:`~switchio_lab.apps.bert.Bert` that loads without mod_bert (a warning)."""

    async def prepost(self, client: Any, ring_response: str | None = None,
                      pdd: float | None = None, prd: float | None = None,
                      two_sided: bool = False, **opts: str) -> None:
        try:
            await super().prepost(client, ring_response, pdd, prd, two_sided, **opts)
        except AppError as exc:
            message = f"{exc} -- loaded anyway, as switchio did: its calls run no bert_test"
            warnings.warn(message, RuntimeWarning, stacklevel=2)
            log.warning("%s", message)
            self.ring_response = ring_response
            self.pdd, self.prd = pdd or 0.0, prd or 0.0
            self.two_sided = two_sided
            self.opts.update({k: str(v) for k, v in opts.items()})


__all__ = ["Bert"]
