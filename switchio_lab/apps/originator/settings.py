"""The Originator's live settings: each one checked, several changed atomically."""

from __future__ import annotations

import itertools
import math
import numbers
from collections.abc import Mapping
from typing import Any

from .states import ORIGINATING, ORIGINATOR_VAR


def check_number(name: str, value: Any, *, low: float, strict_low: bool, allow_inf: bool,
            integer: bool = False) -> float:
    """Check a numeric setting; the message says what was wrong and what is allowed."""
    kind = "an integer" if integer else "a number"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be {kind}, not {value!r}")
    value = float(value) if not isinstance(value, numbers.Integral) else int(value)
    if math.isnan(value):
        raise ValueError(f"{name} must be {kind}, not NaN")
    if math.isinf(value):
        if allow_inf and value > 0:
            return math.inf
        raise ValueError(f"{name} must be finite, not {value!r}")
    if integer and value != int(value):
        raise ValueError(f"{name} must be {kind}, not {value!r}")
    if value < low or (strict_low and value == low):
        bound = f"> {low:g}" if strict_low else f">= {low:g}"
        raise ValueError(f"{name} must be {bound}, not {value!r}")
    return int(value) if integer else value


class OriginatorSettings:
    """The settings part of :class:`~switchio_lab.apps.originator.Originator` (see its doc)."""

    _SETTINGS = ("rate", "limit", "duration", "duration_offset", "max_offered", "dest_url",
                 "profile", "proxy", "apps", "variables")
    # -- settings -----------------------------------------------------------------------
    def _validate(self, new: dict[str, Any]) -> dict[str, Any]:
        """The settings as they would be with ``new`` applied (raises ValueError)."""
        unknown = sorted(set(new) - set(self._SETTINGS))
        if unknown:
            raise ValueError(f"unknown Originator setting(s) {unknown}; the settings are "
                             f"{list(self._SETTINGS)}")
        out = dict(self._settings)
        for name, value in new.items():
            if name == "rate":
                value = check_number("rate", value, low=0, strict_low=True, allow_inf=False)
            elif name == "limit":
                value = check_number("limit", value, low=1, strict_low=False, allow_inf=False,
                                integer=True)
            elif name == "duration":
                if value is not None:
                    value = check_number("duration", value, low=0, strict_low=False,
                                    allow_inf=True)
            elif name == "duration_offset":
                value = check_number("duration_offset", value, low=0, strict_low=False,
                                allow_inf=False)
            elif name == "max_offered":
                value = check_number("max_offered", value, low=0, strict_low=False,
                                allow_inf=True, integer=True)
            elif name == "dest_url":
                if value is not None and (not isinstance(value, str) or not value.strip()
                                          or any(c.isspace() for c in value)):
                    raise ValueError(f"dest_url must be a non-empty string without spaces "
                                     f"(user@host:port or a dial string), not {value!r}")
            elif name == "profile":
                if not isinstance(value, str) or not value or any(c.isspace() for c in value):
                    raise ValueError(f"profile must be a SIP profile name, not {value!r}")
            elif name == "proxy":
                if value is not None and (not isinstance(value, str) or not value
                                          or any(c.isspace() for c in value)):
                    raise ValueError(f"proxy must be host[:port] or None, not {value!r}")
            elif name == "apps":
                value = self._check_apps(value)
            elif name == "variables":
                if value is None:
                    value = {}
                if not isinstance(value, Mapping):
                    raise ValueError(f"variables must be a mapping, not {value!r}")
                value = dict(value)
                bad = [k for k in value if not isinstance(k, str) or not k
                       or any(c in k for c in ",={} ")]
                if bad:
                    raise ValueError(f"variables: bad channel variable name(s) {bad}")
                taken = sorted(set(value) & self._reserved())
                if taken:
                    raise ValueError(f"variables: {taken} are set by the Originator itself "
                                     "(call tracking, app id, originate arguments)")
            out[name] = value
        return out

    def _reserved(self) -> set[str]:
        """Variable names the Originator (and ``Client.originate``) set themselves."""
        names = {"origination_uuid", "switchio_call", "sip_h_X-switchio_call", ORIGINATOR_VAR,
                 "app_id", "uuid", "profile", "proxy", "endpoint", "app_name", "app_arg",
                 "bgapi", "dest_url"}
        for client in self.pool:
            names.update((client.app_id_var, f"sip_h_X-{client.app_id_var}"))
        return names

    def _check_apps(self, apps: Any) -> dict[str, float]:
        if apps is None:
            return {}
        if not isinstance(apps, Mapping):
            raise ValueError(f"apps must be a mapping {{app_id: weight}}, not {apps!r}")
        weights = {}
        for app_id, weight in apps.items():
            weights[app_id] = check_number(f"the weight of app {app_id!r}", weight, low=0,
                                      strict_low=False, allow_inf=False)
        if weights and not any(weights.values()):
            raise ValueError(f"apps: at least one weight must be > 0 (got {weights})")
        for app_id in weights:
            missing = [self.pool.name_of(c) for c in self.pool if app_id not in c.apps]
            if missing:
                raise ValueError(f"apps: no app is loaded under {app_id!r} on {missing}; "
                                 "load it on every node first (Originator.load_app or an "
                                 "AppManager)")
        return weights

    def configure(self, **settings: Any) -> None:
        """Change several settings at once: all are checked before any is applied, so an
        invalid value raises :class:`ValueError` and changes nothing."""
        if self._closed:
            raise RuntimeError("this Originator was shut down")
        old = dict(self._settings)
        old_duration = self.duration
        new = self._validate(settings)
        self._settings = new
        if "apps" in settings:
            self._set_weights(new["apps"])
        for name in settings:
            if name != "duration" and old[name] != new[name]:
                self._notify("setting", name, old[name], new[name])
        if self.duration != old_duration or old["duration"] != new["duration"]:
            # the duration in effect (derived or set) is what observers are told
            self._notify("setting", "duration", old_duration, self.duration)
            self._retime()
        if self._state == ORIGINATING and "rate" in settings and self._loop is not None:
            # re-anchor the schedule at the last offer: the new rate holds from now on
            now = self._loop.time()
            last = self._last_offer if self._last_offer is not None else now
            self._next_due = max(last + 1.0 / new["rate"], now)
        self._wake()

    def _set_weights(self, apps: dict[str, float]) -> None:
        ids = [a for a, w in apps.items() if w > 0]
        self._app_ids = ids or [None]
        self._app_cum = list(itertools.accumulate(apps[a] for a in ids)) if ids else [1.0]

    def settings(self) -> dict[str, Any]:
        """The current settings (``duration`` as in effect, ``auto_duration`` tells)."""
        out = dict(self._settings)
        out["apps"] = dict(out["apps"])
        out["variables"] = dict(out["variables"])
        out["auto_duration"] = out["duration"] is None
        out["duration"] = self.duration
        return out

    def _setting(name: str, doc: str) -> property:  # a class-body helper, deleted below
        def get(self: Any) -> Any:
            value = self._settings[name]
            return dict(value) if isinstance(value, dict) else value

        def set_(self: Any, value: Any) -> None:
            self.configure(**{name: value})
        return property(get, set_, doc=doc)

    rate = _setting("rate", "Calls offered per second over the whole pool.")
    limit = _setting("limit", "Most calls in progress at once (``active + up``).")
    duration_offset = _setting("duration_offset", "Margin (s) of the derived duration.")
    max_offered = _setting("max_offered", "Stop after offering this many calls.")
    dest_url = _setting("dest_url", "Where calls go: ``user@host:port`` or a dial string.")
    profile = _setting("profile", "The SIP profile calls are placed on.")
    proxy = _setting("proxy", "An outbound proxy (``host[:port]``) or None.")
    apps = _setting("apps", "``{app_id: weight}``: each call's app id is drawn with these "
                            "weights.")
    variables = _setting("variables", "Extra channel variables set on every call.")
    del _setting

    @property
    def duration(self) -> float:
        """Seconds from a call's offer to its hangup (derived unless set; see the class)."""
        value = self._settings["duration"]
        if value is None:
            return self._settings["limit"] / self._settings["rate"] + \
                self._settings["duration_offset"]
        return value

    @duration.setter
    def duration(self, value: float | None) -> None:
        self.configure(duration=value)

    @property
    def auto_duration(self) -> bool:
        """True while ``duration`` is derived from ``limit`` and ``rate``."""
        return self._settings["duration"] is None
