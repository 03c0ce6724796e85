"""Two legs bridged: the variables, events and caller ids set as legs join and part."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .channel import Channel


def link(a: Channel, b: Channel) -> None:
    """Bridge ``a`` (it ran ``bridge``) to ``b``: CHANNEL_BRIDGE on ``a``, CALL_UPDATEs."""
    now = time.time()
    a.bridged, b.bridged = b, a
    for x in (a, b):
        x.bridged_at = now
        x.caller["Caller-Channel-Bridged-Time"] = str(x.node.clock.stamp(now))
    a.other.clear()
    a.other.update(other_leg(b))
    a.unsetvar("originate_signal_bond")
    a.setvars([("originate_causes", f"{b.uuid};NONE"), ("signal_bond", b.uuid)])
    a.fire("CHANNEL_BRIDGE", {"Bridge-A-Unique-ID": a.uuid, "Bridge-B-Unique-ID": b.uuid})
    a.hangup_extra.append(("last_bridge_role", "originator"))
    b.hangup_extra.append(("bridge_to", None))
    bridge_vars = [("bridge_to", a.uuid), ("last_bridge_to", a.uuid), ("bridge_channel", a.name),
                   ("bridge_uuid", a.uuid)]
    b.setvars(bridge_vars)
    b.set_state("CS_EXCHANGE_MEDIA", 5)
    for x, y in ((b, a), (a, b)):
        if x is a:
            x.setvars([("bridge_to", b.uuid), ("last_bridge_to", b.uuid),
                       ("bridge_channel", b.name), ("bridge_uuid", b.uuid)])
        x.callee_direction = "SEND"
        x.setvars([("last_sent_callee_id_name", y.cid_name if x is b else y.destination),
                   ("last_sent_callee_id_number", y.cid_number if x is b else y.destination)])
        x.fire("CALL_UPDATE", {
            "Direction": "SEND", "Sent-Callee-ID-Name": x.getvar("last_sent_callee_id_name"),
            "Sent-Callee-ID-Number": x.getvar("last_sent_callee_id_number"),
            "Bridged-To": y.uuid})
    # the new caller id travels to both far ends as a SIP INFO (message/update_display)
    asyncio.get_running_loop().call_later(0.02, _send_info, b.destination, a.peer, b.peer)


def _send_info(display: str, *fars: Channel | None) -> None:
    for far in fars:
        if far is not None and far.dialog is not None and far.cause is None:
            if not far.media_ready:  # still between its answer and its park: after that
                asyncio.get_running_loop().call_later(0.02, _send_info, display, far)
                continue
            d = far.dialog
            if far.direction == "outbound":
                info = (d.callee_user, d.callee_host, far.cid_number, d.caller_host,
                        d.callee_user, d.callee_host)
            else:
                info = (d.caller_user, d.caller_host, d.callee_user, d.callee_host, "mod_sofia",
                        d.caller_host)
            far.fire("RECV_INFO", dict(zip(
                ("SIP-From-User", "SIP-From-Host", "SIP-To-User", "SIP-To-Host",
                 "SIP-Contact-User", "SIP-Contact-Host"), info, strict=True),
                **{"SIP-Content-Type": "message/update_display"}))
            if far.direction == "outbound":  # the caller now displays the far end's id
                far.caller["Caller-Caller-ID-Name"] = display
                far.caller["Caller-Caller-ID-Number"] = display


def unlink(a: Channel, b: Channel) -> None:
    """End the bridge: CHANNEL_UNBRIDGE on the leg that ran ``bridge``."""
    cause = b.cause or a.cause or "NORMAL_CLEARING"
    a.unsetvar("bridge_to")
    a.setvar("bridge_hangup_cause", cause)
    b.setvar("bridge_hangup_cause", cause)
    a.fire("CHANNEL_UNBRIDGE", {"Bridge-A-Unique-ID": a.uuid, "Bridge-B-Unique-ID": b.uuid})
    if a.bridged is b:
        a.bridged = None
    if b.bridged is a:
        b.bridged = None


def other_leg(ch: Channel, originator: bool = False) -> dict[str, str]:
    """``Other-Type`` and ``Other-Leg-*``: ``ch``'s caller profile as its partner sees it.

    For a new bridge leg FreeSWITCH shows its originator's profile with every time at 0.
    """
    out = {"Other-Type": "originator" if originator else "originatee"}
    for k, v in ch.caller.items():
        name = k[len("Caller-"):]
        if name == "Profile-Index":
            continue
        if originator and ("-Time" in name or name in ("Channel-Last-Hold",
                                                       "Channel-Hold-Accum")):
            v = "0"
        out["Other-Leg-" + name] = v
    if not originator:
        out["Other-Leg-Logical-Direction"] = "inbound"
    return out


__all__ = ["link", "other_leg", "unlink"]
