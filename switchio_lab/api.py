"""switchio's ``switchio.api`` path: the :class:`Client` is in :mod:`switchio_lab.core.client`."""

from .core.client import ApiError, AppError, Client, get_client, is_error

__all__ = ["ApiError", "AppError", "Client", "get_client", "is_error"]
