"""Routing apps: send inbound calls on, by the Request-URI or by your own routes.

- :class:`Proxier` -- bridge every inbound call to its SIP Request-URI;
- :class:`Bridger` -- bridge the legs of a call, hop by hop, as configured;
- :class:`Router` -- a flask-like dialplan: ``@router.route(pattern)`` async functions,
  header guards, rejection of what nothing routes.

switchio's README example runs as written (with ``from switchio_lab.apps.routers import
Router``)::

    router = Router(guards={"Call-Direction": "inbound",
                            "variable_sofia_profile": "external"},
                    subscribe=("PLAYBACK_START", "PLAYBACK_STOP"))

    @router.route("(.*)")
    async def welcome(sess, match, router):
        await sess.answer()  # resumes once the call has been answered
        sess.playback("en/us/callie/ivr/8000/ivr-founder_of_freesource.wav")
        await sess.recv("PLAYBACK_START")
        await sess.recv("PLAYBACK_STOP")
        await sess.hangup()  # resumes once the call has been hung up
"""

from __future__ import annotations

import inspect
import logging
import re
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from functools import partial
from typing import Any

from .. import marks
from ..core import Session, SessionEnded
from ..core.marks import callback, coroutine
from ..core.registry import app

log = logging.getLogger("switchio_lab.apps.routers")

Route = Callable[..., Awaitable[Any]]


#: The SIP X-header a :class:`Proxier` puts on each leg it creates: the ``Core-UUID`` of
#: every node that proxied the call so far, joined by ``+``. FreeSWITCH sends a leg's
#: ``sip_h_*`` variables in its INVITE and copies them onto the legs it bridges to
#: (``call_bridge_xheaders``), so when the call comes back to one of those nodes it
#: arrives as ``variable_sip_h_X-switchio_proxied`` naming that node.
PROXIED_HEADER = "X-switchio_proxied"


def proxied_by(sess: Session) -> list[str]:
    """The ``Core-UUID`` of every node whose :class:`Proxier` has proxied ``sess``'s call
    (from its :data:`PROXIED_HEADER`)."""
    value = sess.get(f"variable_sip_h_{PROXIED_HEADER}") or ""
    return [core for core in value.split("+") if core]


@app
class Proxier:
    """Proxy every inbound call to the destination in its SIP Request-URI.

    On ``CHANNEL_PARK`` of an inbound leg: ``bridge`` it to
    ``${sip_req_user}@${sip_req_host}:${sip_req_port}`` (expanded by the switch) over
    the leg's own SIP profile, then wait for the answer. This is the seed page's proxy
    example; calls sent through this node with ``;fs_path=sip:<this node>`` (the
    ``proxy=`` of ``Client.originate``) go on to where they were addressed.

    A call is proxied at most once by each node: the bridge marks its new leg with the
    SIP header :data:`PROXIED_HEADER` naming this node (its ``Core-UUID``, added to the
    nodes already named), and an inbound leg that arrives naming this node -- the far end
    of a proxy on a node that calls itself, or of a loop through other nodes -- is left
    parked for whatever else handles the call, not proxied again (:attr:`skipped` counts
    them). Without the mark the Request-URI of the proxied leg is this node again, and
    so on until FreeSWITCH runs out of Max-Forwards: 140 channels, then ``-ERR
    EXCHANGE_ROUTING_ERROR``.

    Events: ``CHANNEL_PARK`` (and ``CHANNEL_ANSWER``, awaited).
    """

    dest_url = "${sip_req_user}@${sip_req_host}:${sip_req_port}"

    def __init__(self) -> None:
        self.proxied = 0
        self.skipped = 0

    @coroutine("CHANNEL_PARK")
    async def on_park(self, sess: Session) -> None:
        if not sess.is_inbound():
            return
        node = sess.get("Core-UUID") or ""
        nodes = proxied_by(sess)
        if node in nodes:
            self.skipped += 1
            log.info("Proxier: %s was proxied here before; not proxying it again", sess.uuid)
            return
        self.proxied += 1
        answered = sess.recv("CHANNEL_ANSWER", timeout=None)  # or SessionEnded
        sess.bridge(dest_url=self.dest_url,
                    params={f"sip_h_{PROXIED_HEADER}": "+".join([*nodes, node])})
        try:
            await answered
        except SessionEnded:  # the far end did not take the call
            pass


def tracking_headers(sess: Session) -> dict[str, str]:
    """The SIP X-headers tagging ``sess``'s call (call id, app id), to put on a new leg.

    FreeSWITCH passes a leg's ``sip_h_X-*`` variables on to the legs it bridges to;
    setting them on the bridge makes the next hop of the call join the same call (and
    app) for sure. A call that came untagged (not placed by switchio) is tagged with the
    id the listener gave it, so its next hops join it too.
    """
    client = sess.client
    out = {}
    for header in (client.listener.call_tracking_header, f"variable_{client.app_id_var}"):
        if not header.startswith("variable_"):
            continue
        name = header[len("variable_"):]
        value = sess.get(f"variable_sip_h_X-{name}") or sess.get(header)
        if not value and header == client.listener.call_tracking_header and sess.call:
            value = sess.call.uuid
        if value:
            out[f"sip_h_X-{name}"] = value
    return out


@app
class Bridger:
    """Bridge the inbound legs of a call, each hop as configured.

    The *n*-th inbound leg of a call to park here is bridged as
    ``count2bridgeargs[n]`` says: ``"proxy"`` bridges to the leg's Request-URI, a dict
    is passed to :meth:`~switchio_lab.models.Session.bridge` as keywords
    (``dest_url``, ``profile``, ``gateway``, ``proxy``, ``params``); a count with no
    entry stays parked (for another app, or you, to handle). Each bridge carries the
    call's tracking headers (:func:`tracking_headers`), so every hop that comes back
    to this node is counted in the same call -- also for a call that did not come
    tagged -- and a call is bridged only as many times as there are entries: the
    default, ``{1: "proxy"}``, makes a Bridger a proxy that never proxies the leg it
    created (on a node that calls itself that leg is the call's second, left parked).
    ``bridged`` counts CHANNEL_BRIDGE events by call.

    Events: ``CHANNEL_PARK``, ``CHANNEL_BRIDGE``, ``CHANNEL_HANGUP`` (to forget a call).
    """

    def __init__(self, count2bridgeargs: Mapping[int, Any] | None = None) -> None:
        self.count2bridgeargs: dict[int, Any] = dict(count2bridgeargs or {1: "proxy"})
        self.call2entries: Counter[str] = Counter()
        self.bridged: Counter[str] = Counter()

    def prepost(self, count2bridgeargs: Mapping[int, Any] | None = None) -> None:
        if count2bridgeargs is not None:
            self.count2bridgeargs = dict(count2bridgeargs)

    @callback("CHANNEL_PARK")
    def on_park(self, sess: Session) -> None:
        if not sess.is_inbound() or sess.call is None:
            return
        key = sess.call.uuid
        self.call2entries[key] += 1
        args = self.count2bridgeargs.get(self.call2entries[key])
        if not args:
            return
        kwargs = {} if args == "proxy" else dict(args)  # "proxy": to the Request-URI
        kwargs["params"] = {**tracking_headers(sess), **(kwargs.get("params") or {})}
        sess.bridge(**kwargs)

    @callback("CHANNEL_BRIDGE")
    def on_bridge(self, sess: Session) -> None:
        if sess.call is not None:
            self.bridged[sess.call.uuid] += 1
        log.debug("Bridger: bridged %s to %s", sess.uuid, sess.get("Bridge-B-Unique-ID"))

    @callback("CHANNEL_HANGUP")
    def on_hangup(self, sess: Session) -> None:
        call = sess.call
        if call is not None and all(s.hungup for s in call.sessions):
            self.call2entries.pop(call.uuid, None)


class StopRouting(Exception):
    """Raised by a route: no further route runs for this session."""


class Routes:
    """Routes by pattern, in the order registered (flask-like).

    ``routes(pattern, field="Caller-Destination-Number", **kwargs)`` is a decorator
    registering an ``async def route(sess, match, router, **kwargs)``; a session is
    routed by every route whose pattern ``re.match``-es the session's ``field``.
    """

    def __init__(self) -> None:
        self.table: dict[tuple[str, str], list[tuple[Route, dict[str, Any]]]] = {}

    def __call__(self, pattern: str, field: str = "Caller-Destination-Number",
                 **kwargs: Any) -> Callable[[Route], Route]:
        re.compile(pattern)  # a bad pattern fails here, not on the first call

        def register(func: Route) -> Route:
            target = func.func if isinstance(func, partial) else func
            if not inspect.iscoroutinefunction(target):
                raise TypeError(f"a route must be an 'async def' function; "
                                f"{getattr(func, '__qualname__', func)!r} is not one")
            self.table.setdefault((pattern, field), []).append((func, kwargs))
            return func
        return register

    def update(self, other: Routes) -> None:
        """Add the routes of ``other`` (after these)."""
        for key, funcs in other.table.items():
            self.table.setdefault(key, []).extend(funcs)

    def matches(self, fields: Session | Mapping[str, Any]
                ) -> Iterator[tuple[Route, re.Match[str], dict[str, Any]]]:
        """``(route, match, kwargs)`` for every route matching ``fields``, in order."""
        for (pattern, field), funcs in list(self.table.items()):
            value = fields.get(field)
            if value is None:
                continue
            match = re.match(pattern, str(value))
            if match:
                for func, kwargs in funcs:
                    yield func, match, kwargs

    def iter_matches(self, fields: Session | Mapping[str, Any], **kwargs: Any
                     ) -> Iterator[tuple[Route, re.Match[str], dict[str, Any]]]:
        """switchio's name: :meth:`matches`, each route's keywords over ``kwargs``."""
        for func, match, route_kwargs in self.matches(fields):
            yield func, match, {**kwargs, **route_kwargs}

    def __len__(self) -> int:
        return sum(len(funcs) for funcs in self.table.values())


PatternRegistrar = Routes  # switchio's name for it


@app
class Router:
    """Route parked sessions through registered async functions ("routes").

    ``@router.route(pattern, field="Caller-Destination-Number", **kwargs)`` registers
    ``async def route(sess, match, router, **kwargs)``; when a session parks, every
    route whose ``pattern`` matches (``re.match``) the session's ``field`` header runs
    in turn (``match`` is the :class:`re.Match`). A route raising :class:`StopRouting`
    (``Router.StopRouting``) ends routing; other exceptions are logged and routing
    goes on.

    ``guards`` maps headers to the values a session must have (a string, or a compiled
    pattern to ``fullmatch``) to be routed at all -- e.g. ``{"Call-Direction":
    "inbound"}``. With ``reject_on_guard`` (default), a session that fails the guards or
    that no route matches is rejected: hung up with ``reject_cause`` (a cause name), or
    refused with that SIP response if it is a number (``404``). ``subscribe`` names
    extra events the routes ``await`` (``sess.recv("PLAYBACK_STOP")``). :attr:`routed`
    counts the sessions some route matched, :attr:`rejected` those turned away.

    The switch's dialplan must park calls (``switchio`` context). Outbound legs park
    too (``originate ... &park()``): guard on ``Call-Direction`` when this node also
    places calls.

    Events: ``CHANNEL_PARK`` (plus ``subscribe``).
    """

    StopRouting = StopRouting

    def __init__(self, guards: Mapping[str, Any] | None = None, reject_on_guard: bool = True,
                 subscribe: Iterable[str] = (), reject_cause: str | int = "NO_ROUTE_DESTINATION"
                 ) -> None:
        self.guards = dict(guards or {})
        self.guard = reject_on_guard
        self.reject_cause = reject_cause
        self.route = Routes()
        self.rejected = 0
        self.routed = 0
        extra = [subscribe] if isinstance(subscribe, str) else list(subscribe)
        if extra:  # this instance's CHANNEL_PARK coroutine also asks for the extra events
            async def on_park(sess: Session) -> None:
                await type(self).on_park(self, sess)
            on_park.__qualname__ = f"{type(self).__qualname__}.on_park"
            self.on_park = marks.coroutine("CHANNEL_PARK", subscribe=extra)(on_park)

    def passes_guards(self, sess: Session) -> bool:
        for key, expected in self.guards.items():
            value = sess.get(key)
            if value is None:
                return False
            if isinstance(expected, re.Pattern):
                if not expected.fullmatch(value):
                    return False
            elif value != str(expected):
                return False
        return True

    @coroutine("CHANNEL_PARK")
    async def on_park(self, sess: Session) -> None:
        handled = False
        if not self.passes_guards(sess):
            log.info("Router: session %s did not pass the guards %s", sess.uuid, self.guards)
        else:
            for func, match, kwargs in self.route.matches(sess):
                if not handled:
                    handled = True
                    self.routed += 1
                name = getattr(func, "__name__", repr(func))
                log.debug("Router: %r matched route %s for session %s", match.string, name,
                          sess.uuid)
                try:
                    await func(sess, match=match, router=self, **kwargs)
                except StopRouting:
                    log.debug("Router: routing of %s stopped by %s", sess.uuid, name)
                    break
                except SessionEnded:
                    break
                except Exception:
                    log.exception("Router: route %s failed on %r for session %s", name,
                                  match.string, sess.uuid)
        if not handled and self.guard and not sess.hungup:
            self.rejected += 1
            log.info("Router: rejecting session %s (%s)", sess.uuid, self.reject_cause)
            if isinstance(self.reject_cause, int):
                await sess.respond(self.reject_cause)
            else:
                await sess.hangup(self.reject_cause)

    @staticmethod
    async def bridge(sess: Session, match: re.Match[str] | None = None, router: Any = None,
                     dest_url: str | None = None, out_profile: str | None = None,
                     gateway: str | None = None, proxy: str | None = None,
                     params: dict[str, Any] | None = None) -> None:
        """A route that bridges the session: to ``dest_url`` (default: its Request-URI),
        over ``out_profile`` (default: the profile it came in on) or ``gateway``.

        ``router.route("^1[0-9]{3}$", dest_url="...")(Router.bridge)`` registers it.
        """
        await sess.bridge(dest_url=dest_url, profile=out_profile, gateway=gateway,
                          proxy=proxy, params=params)


__all__ = ["PROXIED_HEADER", "Bridger", "Proxier", "Router", "Routes", "StopRouting",
           "proxied_by", "tracking_headers"]
