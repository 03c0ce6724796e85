"""switchio's ``switchio.utils`` names."""

from __future__ import annotations

from ..connection.errors import ApiError, ESLError
from ..core.errors import SwitchioError


class ConfigurationError(SwitchioError):
    """A bad setting (switchio's ``utils.ConfigurationError``): e.g. an Originator with no
    app, or an app that cannot be loaded."""


#: switchio's ``utils.APIError``: an ``api``/``bgapi`` command answered ``-ERR``
APIError = ApiError

#: switchio's ``utils.ESLError``
ESLError = ESLError

__all__ = ["APIError", "ConfigurationError", "ESLError"]
