"""Modelled media for the embedded switch: playback specs, WAV recordings, G.711, RTP stats.

Nothing here streams or sleeps. A playback spec is parsed into a :class:`Media` that knows
its exact length and can render its samples on demand; a :class:`Recorder` mixes what a
channel hears into a real WAV file; :class:`RtpStats` computes the ``rtp_audio_*`` channel
variables FreeSWITCH reports at hangup, with the MOS FreeSWITCH computes.

Where the behaviour comes from (FreeSWITCH sources, read for this module):

- ``tone_stream://`` is FreeSWITCH's teletone script (TGML): ``libs/libteletone/src/
  libteletone_generate.c`` (``teletone_run``, ``teletone_mux_tones``, ``teletone_init_session``)
  and ``src/mod/formats/mod_tone_stream/mod_tone_stream.c`` (``;loops=N``, the ``loops`` file
  parameter, ``switch_buffer_read_loop`` in ``src/switch_buffer.c``).
- ``silence_stream://`` and its comfort noise: ``mod_tone_stream.c`` and
  ``switch_generate_sln_silence`` (``src/switch_resample.c``).
- ``file_string://`` skips parts that do not open: ``mod_file_string.c`` (``next_file``).
- RTP statistics: ``src/switch_rtp.c`` (``check_jitter``, ``do_mos``, ``burstr_calculate``,
  ``rtp_common_read``, ``switch_rtp_get_stats``) and ``set_stats`` in
  ``src/switch_core_media.c`` (variable names, order and ``%0.2f`` formatting).
- G.711: ITU-T G.711 as implemented by the ITU-T Software Tool Library (G.191) ``g711.c``.
"""

from __future__ import annotations

from .g711 import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode
from .impair import (
    Impairment,
    ImpairmentError,
    LossPlan,
    Timeline,
    burst_ratio,
    gilbert_elliott_loss,
    random_loss,
)
from .recorder import Recorder
from .rtpstats import (
    InboundStats,
    OutboundStats,
    RtpStats,
    freeswitch_score,
    mos_from_r,
    quality_from_flaws,
)
from .sources import Media, parse_media
from .tones import (
    DEFAULT_TONE_VOLUME_DB,
    DTMF_FREQUENCIES,
    MediaError,
    dtmf_packet_count,
    dtmf_tones,
    tone_amplitude,
)
from .wav import read_wav, write_wav

__all__ = [
    "DEFAULT_TONE_VOLUME_DB",
    "DTMF_FREQUENCIES",
    "Impairment",
    "ImpairmentError",
    "InboundStats",
    "Media",
    "MediaError",
    "OutboundStats",
    "LossPlan",
    "Recorder",
    "RtpStats",
    "Timeline",
    "alaw_decode",
    "burst_ratio",
    "alaw_encode",
    "dtmf_packet_count",
    "dtmf_tones",
    "freeswitch_score",
    "gilbert_elliott_loss",
    "mos_from_r",
    "parse_media",
    "quality_from_flaws",
    "random_loss",
    "read_wav",
    "tone_amplitude",
    "ulaw_decode",
    "ulaw_encode",
    "write_wav",
]
