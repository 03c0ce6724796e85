"""``show channels as xml`` and ``uuid_dump <uuid> json|xml`` answer as FreeSWITCH's
mod_commands does (they answered ``-ERR … failed`` from an internal exception), and a
duplicate ``origination_uuid`` no longer hides the first channel (issue 15)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from switchio_lab.esl import Event
from switchio_lab.testing import until

PARK = "{origination_uuid=%s,sip_h_X-leave_parked=yes}sofia/external/park@%s &park()"
A = "a1111111-0000-4000-8000-000000000000"


async def parked(sim_node, sim_client, uuid: str = A) -> None:
    await sim_client.bgapi(f"originate {PARK % (uuid, sim_node.sip_address())}")
    await until(lambda: uuid in sim_node.channels and len(sim_node.channels) % 2 == 0)

    async def listed() -> bool:  # show channels lags CREATE, as FreeSWITCH's core db does
        text = await sim_client.api("show channels count")
        return text.strip() == f"{len(sim_node.channels)} total."

    await until(listed)


async def test_show_channels_as_xml(sim_node, sim_client) -> None:
    assert await sim_client.api("show channels as xml") == '<result row_count="0"/>\n'
    await parked(sim_node, sim_client)
    text = await sim_client.api("show channels as xml")
    root = ET.fromstring(text)
    as_json = json.loads(await sim_client.api("show channels as json"))
    assert root.tag == "result" and root.get("row_count") == "2" == str(as_json["row_count"])
    rows = root.findall("row")
    assert [r.get("row_id") for r in rows] == ["1", "2"]
    for row, expected in zip(rows, as_json["rows"], strict=True):  # same rows and values
        assert [f.tag for f in row] == list(expected)
        assert {f.tag: f.text or "" for f in row} == expected
    assert rows[0].find("uuid").text == A


async def test_an_unknown_show_format_is_refused(sim_client) -> None:
    assert await sim_client.api("show channels as yaml") == "-ERR Cannot find format yaml\n"


async def test_uuid_dump_as_json_and_xml(sim_node, sim_client) -> None:
    await parked(sim_node, sim_client)
    plain = Event((await sim_client.api(f"uuid_dump {A}")).encode())
    as_json = json.loads(await sim_client.api(f"uuid_dump {A} json"))
    assert as_json["Event-Name"] == "CHANNEL_DATA" and as_json["Unique-ID"] == A
    assert as_json["Channel-State"] == plain["Channel-State"]
    root = ET.fromstring(await sim_client.api(f"uuid_dump {A} xml"))
    assert root.tag == "event"
    headers = {h.tag: h.text for h in root.find("headers")}
    assert headers["Unique-ID"] == A and headers["Event-Name"] == "CHANNEL_DATA"
    assert set(as_json) == set(headers)  # one event, two encodings
    assert (await sim_client.api("uuid_dump 00000000-dead-4000-8000-000000000000 json")
            ).startswith("-ERR")


async def test_a_duplicate_origination_uuid_keeps_the_first_channel(sim_node, sim_client):
    await parked(sim_node, sim_client)
    first = sim_node.channels[A]
    job = await sim_client.bgapi(f"originate {PARK % (A, sim_node.sip_address())}")
    await until(lambda: len(sim_node.channels) == 4)
    assert sim_node.channels[A] is first  # still the one the uuid names
    others = [u for u in sim_node.channels if u != A]
    assert len(set(others)) == 3
    await sim_client.api(f"uuid_kill {A}")
    await until(lambda: A not in sim_node.channels)
    assert len(sim_node.channels) == 3  # only the first call's caller went
    del job
