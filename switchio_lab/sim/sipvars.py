"""The channel variables FreeSWITCH's mod_sofia sets on each leg, stage by stage.

Names and the stage at which each appears follow the golden captures (``call_basic``,
``call_xheaders``); values are generated consistently for the two legs of one SIP
dialog (one Call-ID, tags, branch, media ports).
"""

from __future__ import annotations

import random
import string
import uuid as uuidlib
from dataclasses import dataclass, field

from .causes import CAUSE_TO_SIP, q850
from .config import VERSION_FULL

USER_AGENT = f"FreeSWITCH-mod_sofia/{VERSION_FULL}"
ALLOW = "INVITE, ACK, BYE, CANCEL, OPTIONS, MESSAGE, INFO, UPDATE, REGISTER, REFER, NOTIFY"
CODEC_STRING = "CORE_PCM_MODULE.PCMU@8000h@20i@64000b,CORE_PCM_MODULE.PCMA@8000h@20i@64000b"


def _tag(n: int = 13) -> str:
    return "".join(random.choices(string.ascii_letters + string.digits, k=n))


def _port() -> int:
    return random.randrange(16384, 32768, 2)


@dataclass
class Dialog:
    """What both legs of one SIP call share."""

    caller_user: str  # From user (caller id number)
    caller_host: str  # caller's node address
    caller_port: int  # caller's SIP port (profile)
    callee_user: str  # Request-URI user
    callee_host: str
    callee_port: int
    profile: str = "external"  # the calling leg's profile (the INVITE's sender)
    #: the profile the INVITE arrived on (set by the receiving node: the port's profile)
    callee_profile: str = "external"
    #: the INVITE's Max-Forwards (70, less one per B2BUA hop: a bridge's leg)
    max_forwards: int = 70
    call_id: str = field(default_factory=lambda: str(uuidlib.uuid4()))
    from_tag: str = field(default_factory=_tag)
    to_tag: str = field(default_factory=_tag)
    branch: str = field(default_factory=lambda: "z9hG4bK" + _tag(11))
    cseq: int = field(default_factory=lambda: random.randrange(1 << 20, 1 << 27))
    caller_media_port: int = field(default_factory=_port)
    callee_media_port: int = field(default_factory=_port)
    caller_name: str | None = None
    headers: dict[str, str] = field(default_factory=dict)  # sip_h_X-* travelling in the INVITE
    #: sent by a bridge's leg: it offers its originator's codec only
    bridged: bool = False
    #: the audio codec the two ends settle on (PCMU unless the call asks for PCMA)
    codec: str = "PCMU"

    @property
    def req_uri(self) -> str:
        return f"{self.callee_user}@{self.callee_host}:{self.callee_port}"

    @property
    def via(self) -> str:
        """The sent-by of the caller's Via: sofia leaves out the default port 5060."""
        if self.caller_port == 5060:
            return self.caller_host
        return f"{self.caller_host}:{self.caller_port}"

    def sdp(self, ip: str, port: int, origin: int | None = None) -> str:
        o = origin or random.randrange(1_700_000_000, 1_800_000_000)
        return (f"v=0\r\no=FreeSWITCH {o} {o + 1} IN IP4 {ip}\r\ns=FreeSWITCH\r\n"
                f"c=IN IP4 {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP 0 8 101 13\r\n"
                "a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"
                "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n"
                "a=rtpmap:13 CN/8000\r\na=ptime:20\r\na=sendrecv\r\n")


def outbound_created(d: Dialog) -> list[tuple[str, str]]:
    """Set when the calling leg's INVITE is built (CHANNEL_CREATE)."""
    url = f"sip:mod_sofia@{d.caller_host}:{d.caller_port}"
    return [
        ("rtp_use_codec_string", "PCMU@8000h@20i" if d.bridged else "PCMU,PCMA"),
        ("local_media_ip", d.caller_host),
        ("local_media_port", str(d.caller_media_port)),
        ("advertised_media_ip", d.caller_host),
        ("rtp_local_sdp_str", d.sdp(d.caller_host, d.caller_media_port)),
        ("sip_outgoing_contact_uri", f"<{url}>"),
        ("sip_req_uri", d.req_uri),
        ("sip_to_host", f"{d.callee_host}:{d.callee_port}"),
        ("sip_from_host", d.caller_host),
        ("sofia_profile_name", d.profile),
        ("recovery_profile_name", d.profile),
        ("sofia_profile_url", url),
    ]


def inbound_new(d: Dialog) -> list[tuple[str, str]]:
    """Variables of the called leg when it is created (CS_NEW)."""
    return [
        ("sip_from_user", d.caller_user),
        ("sip_from_uri", f"{d.caller_user}@{d.caller_host}"),
        ("sip_from_host", d.caller_host),
    ]


def inbound_invite(d: Dialog, stamp: int) -> list[tuple[str, str]]:
    """What the called leg learns from the INVITE (first CODEC event)."""
    url = f"sip:mod_sofia@{d.callee_host}:{d.callee_port}"
    out = [
        ("sip_local_network_addr", d.callee_host),
        ("sip_network_ip", d.caller_host),
        ("sip_network_port", str(d.caller_port)),
        ("sip_invite_stamp", str(stamp)),
        ("sip_received_ip", d.caller_host),
        ("sip_received_port", str(d.caller_port)),
        ("sip_via_protocol", "udp"),
        ("sip_from_user_stripped", d.caller_user),
        ("sip_from_tag", d.from_tag),
        ("sofia_profile_name", d.callee_profile),
        ("sofia_profile_url", url),
        ("recovery_profile_name", d.callee_profile),
        ("sip_Remote-Party-ID", (f'"{d.caller_name}" ' if d.caller_name else "")
         + f"<sip:{d.caller_user}@{d.caller_host}>;party=calling;screen=yes;privacy=off"),
        ("sip_cid_type", "rpid"),
        ("sip_full_via", f"SIP/2.0/UDP {d.via};rport={d.caller_port};branch={d.branch}"),
    ]
    if d.caller_name:
        out.append(("sip_from_display", d.caller_name))
    out += [
        ("sip_full_from", (f'"{d.caller_name}" ' if d.caller_name else "")
         + f"<sip:{d.caller_user}@{d.caller_host}>;tag={d.from_tag}"),
        ("sip_full_to", f"<sip:{d.req_uri}>"),
        ("sip_allow", ALLOW),
        ("sip_req_user", d.callee_user),
        ("sip_req_port", str(d.callee_port)),
        ("sip_req_uri", d.req_uri),
        ("sip_req_host", d.callee_host),
        ("sip_to_user", d.callee_user),
        ("sip_to_port", str(d.callee_port)),
        ("sip_to_uri", d.req_uri),
        ("sip_to_host", d.callee_host),
        ("sip_contact_user", "mod_sofia"),
        ("sip_contact_port", str(d.caller_port)),
        ("sip_contact_uri", f"mod_sofia@{d.caller_host}:{d.caller_port}"),
        ("sip_contact_host", d.caller_host),
        ("endpoint_disposition", "INBOUND CALL"),
        ("sip_user_agent", USER_AGENT),
        ("sip_via_host", d.caller_host),
        *([] if d.caller_port == 5060 else [("sip_via_port", str(d.caller_port))]),
        ("sip_via_rport", str(d.caller_port)),
        ("max_forwards", str(d.max_forwards)),
    ]
    out += [(f"sip_h_{k}", v) for k, v in d.headers.items()]
    out += [
        ("switch_r_sdp", d.sdp(d.caller_host, d.caller_media_port)),
        ("ep_codec_string", "CORE_PCM_MODULE.PCMU@8000h@20i@64000b" if d.bridged
         else CODEC_STRING),
        ("rtp_use_codec_string", "PCMU,PCMA"),
        ("remote_video_media_flow", "inactive"),
        ("remote_text_media_flow", "inactive"),
        ("remote_audio_media_flow", "sendrecv"),
        ("audio_media_flow", "sendrecv"),
        ("remote_media_ip", d.caller_host),
        ("remote_media_port", str(d.caller_media_port)),
        ("rtp_audio_recv_pt", PAYLOAD_TYPES[d.codec]),
    ] + codec_negotiated(d.codec)
    return out


#: RTP payload types of the codecs the embedded switch negotiates
PAYLOAD_TYPES = {"PCMU": "0", "PCMA": "8"}


def codec_of(variables: dict[str, str]) -> str:
    """The codec a call asks for in its originate variables: ``absolute_codec_string``
    (its first codec, as FreeSWITCH takes it) or the lab's ``impair_codec``; PCMU otherwise
    (and for anything but PCMU/PCMA, which is all the embedded switch speaks)."""
    for var in ("absolute_codec_string", "impair_codec"):
        value = (variables.get(var) or "").strip().strip("'\"")
        if value:
            name = value.split(",")[0].split("@")[0].strip().upper()
            if name in PAYLOAD_TYPES:
                return name
    return "PCMU"


def codec_negotiated(codec: str = "PCMU") -> list[tuple[str, str]]:
    return [
        ("rtp_use_codec_name", codec), ("rtp_use_codec_rate", "8000"),
        ("rtp_use_codec_ptime", "20"), ("rtp_use_codec_channels", "1"),
        ("rtp_last_audio_codec_string", f"{codec}@8000h@20i@1c"),
    ]


def read_codec(codec: str = "PCMU") -> list[tuple[str, str]]:
    return [("read_codec", codec), ("original_read_codec", codec), ("read_rate", "8000"),
            ("original_read_rate", "8000")]


def write_codec(codec: str = "PCMU") -> list[tuple[str, str]]:
    return [("write_codec", codec), ("write_rate", "8000"), ("dtmf_type", "rfc2833")]


def inbound_answer(d: Dialog) -> list[tuple[str, str]]:
    """The called leg's media, set up when it answers (CHANNEL_ANSWER)."""
    return [
        ("rtp_local_sdp_str", d.sdp(d.callee_host, d.callee_media_port)),
        ("local_media_ip", d.callee_host),
        ("local_media_port", str(d.callee_media_port)),
        ("advertised_media_ip", d.callee_host),
    ] + rtp_started()


def inbound_acked(d: Dialog) -> list[tuple[str, str]]:
    """What the called leg records from the caller's ACK after answering."""
    return [
        ("sip_to_tag", d.to_tag), ("sip_from_tag", d.from_tag), ("sip_cseq", str(d.cseq)),
        ("sip_call_id", d.call_id),
        ("sip_full_via", f"SIP/2.0/UDP {d.via};rport={d.caller_port};branch=z9hG4bK{_tag(11)}"),
        ("sip_full_from", f"<sip:{d.caller_user}@{d.caller_host}>;tag={d.from_tag}"),
        ("sip_full_to", f"<sip:{d.req_uri}>;tag={d.to_tag}"),
    ]


def rtp_started() -> list[tuple[str, str]]:
    return [("rtp_use_timer_name", "soft"), ("rtp_use_pt", "0"),
            ("rtp_use_ssrc", str(random.randrange(1 << 31, 1 << 32))),
            ("rtp_2833_send_payload", "101"), ("rtp_2833_recv_payload", "101")]


def outbound_answered(d: Dialog) -> list[tuple[str, str]]:
    """What the calling leg learns from the 200 OK (its first CODEC event)."""
    contact = f"{d.callee_user}@{d.callee_host}:{d.callee_port}"
    return [
        ("sip_reply_host", d.callee_host),
        ("sip_reply_port", str(d.callee_port)),
        ("sip_network_ip", d.callee_host),
        ("sip_network_port", str(d.callee_port)),
        ("sip_user_agent", USER_AGENT),
        ("sip_allow", ALLOW),
        ("sip_recover_contact", f"<sip:{contact};transport=udp>"),
        ("sip_full_via", f"SIP/2.0/UDP {d.via};rport={d.caller_port};branch={d.branch}"),
        ("sip_recover_via", f"SIP/2.0/UDP {d.via};rport={d.caller_port};branch={d.branch}"),
        *([("sip_from_display", d.caller_name)] if d.caller_name else []),
        ("sip_full_from", (f'"{d.caller_name}" ' if d.caller_name else "")
         + f"<sip:{d.caller_user}@{d.caller_host}>;tag={d.from_tag}"),
        ("sip_full_to", f"<sip:{d.req_uri}>;tag={d.to_tag}"),
        ("sip_from_user", d.caller_user),
        ("sip_from_uri", f"{d.caller_user}@{d.caller_host}"),
        ("sip_from_host", d.caller_host),
        ("sip_to_user", d.callee_user),
        ("sip_to_port", str(d.callee_port)),
        ("sip_to_uri", d.req_uri),
        ("sip_to_host", d.callee_host),
        ("sip_contact_params", "transport=udp"),
        ("sip_contact_user", d.callee_user),
        ("sip_contact_port", str(d.callee_port)),
        ("sip_contact_uri", contact),
        ("sip_contact_host", d.callee_host),
        ("sip_to_tag", d.to_tag),
        ("sip_from_tag", d.from_tag),
        ("sip_cseq", str(d.cseq)),
        ("sip_call_id", d.call_id),
        ("switch_r_sdp", d.sdp(d.callee_host, d.callee_media_port)),
        ("ep_codec_string", "CORE_PCM_MODULE.PCMU@8000h@20i@64000b"),
        ("remote_video_media_flow", "inactive"),
        ("remote_text_media_flow", "inactive"),
        ("remote_audio_media_flow", "sendrecv"),
        ("remote_media_ip", d.callee_host),
        ("remote_media_port", str(d.callee_media_port)),
        ("rtp_audio_recv_pt", PAYLOAD_TYPES[d.codec]),
    ] + codec_negotiated(d.codec)


SIP_PHRASES = {
    200: "OK", 404: "Not Found", 408: "Request Timeout", 410: "Gone",
    480: "Temporarily Unavailable", 483: "Too Many Hops", 484: "Address Incomplete",
    486: "Busy Here",
    487: "Request Terminated", 488: "Not Acceptable Here", 502: "Bad Gateway",
    503: "Service Unavailable", 603: "Decline",
}


def hangup_signalling(ch, d: Dialog, remote: str, cause: str) -> list[tuple[str, str]]:
    """The SIP variables of a leg hung up by its far end (CHANNEL_HANGUP).

    ``remote``: ``bye`` (an answered call ended), ``cancel`` (the caller gave up;
    ``cause`` is the caller's), ``refuse`` (the callee answered the INVITE with the
    failure for ``cause``) or ``unreachable`` (nothing at the address).
    """
    code = q850(cause)
    if remote == "bye":
        sip = 200
        return [
            ("sip_to_tag", d.to_tag), ("sip_cseq", str(d.cseq)),
            ("sip_full_via", f"SIP/2.0/UDP {d.via};rport={d.caller_port};"
                             f"branch=z9hG4bK{_tag(11)}"),
            ("sip_full_to", f"<sip:{d.req_uri}>;tag={d.to_tag}"),
            ("sip_reason", f'Q.850;cause={code};text="{cause}"'),
            ("sip_term_status", str(sip)), ("proto_specific_hangup_cause", f"sip:{sip}"),
            ("sip_term_cause", str(code)),
        ]
    if remote == "cancel":
        reason = (f'SIP;cause=487;text="{cause}"' if code > 127
                  else f'Q.850;cause={code};text="{cause}"')
        return [
            ("sip_hangup_disposition", "recv_cancel"), ("sip_invite_failure_status", "487"),
            ("sip_invite_failure_phrase", "CANCEL"), ("sip_reason", reason),
            ("sip_term_status", "487"), ("proto_specific_hangup_cause", "sip:487"),
            ("sip_term_cause", "487"),
        ]
    if remote == "unreachable":
        return [
            ("sip_call_id", d.call_id), ("sip_reply_port", "0"), ("sip_network_port", "0"),
            ("sip_hangup_disposition", "recv_refuse"), ("sip_invite_failure_status", "503"),
            ("sip_invite_failure_phrase", "Service Unavailable"), ("sip_term_status", "503"),
            ("proto_specific_hangup_cause", "sip:503"), ("sip_term_cause", "41"),
        ]
    sip = CAUSE_TO_SIP.get(cause, 480)
    ch.caller["Caller-Network-Addr"] = d.callee_host
    return [
        ("sip_call_id", d.call_id), ("sip_reply_host", d.callee_host),
        ("sip_reply_port", str(d.callee_port)), ("sip_network_ip", d.callee_host),
        ("sip_network_port", str(d.callee_port)), ("sip_hangup_disposition", "recv_refuse"),
        ("sip_invite_failure_status", str(sip)),
        ("sip_invite_failure_phrase", SIP_PHRASES.get(sip, "Unknown")),
        ("sip_reason", f'Q.850;cause={code};text="{cause}"'), ("sip_term_status", str(sip)),
        ("proto_specific_hangup_cause", f"sip:{sip}"), ("sip_term_cause", str(code)),
    ]
