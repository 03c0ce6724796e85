"""One measurement per process: ``python -m bench.support.clients NAME PORT COUNT``.

Each client subscribes to ``event plain ALL`` and, for every event, reads
``Event-Name``, ``Unique-ID`` and ``variable_call_uuid`` in a callback. Prints the
events/s from the subscription reply to the last event.
"""

from __future__ import annotations

import sys
import time


def run_switchio_lab(port: int, count: int) -> float:
    import asyncio

    from switchio_lab.connection import InboundClient

    async def main() -> float:
        done = asyncio.get_running_loop().create_future()
        seen = 0

        def on_event(event) -> None:
            nonlocal seen
            _ = event.name, event.uuid, event.get("variable_call_uuid")
            seen += 1
            if seen == count:
                done.set_result(time.perf_counter())

        client = InboundClient("127.0.0.1", port, reconnect=False)
        client.on_event(on_event)
        await client.connect()
        start = time.perf_counter()
        await client.subscribe("ALL")
        end = await asyncio.wait_for(done, 120)
        await client.close()
        return count / (end - start)

    return asyncio.run(main())


def run_greenswitch(port: int, count: int) -> float:
    import gevent
    import greenswitch

    state = {"seen": 0, "end": None}
    finished = gevent.event.Event()

    def on_event(event) -> None:
        _ = (event.headers["Event-Name"], event.headers.get("Unique-ID"),
             event.headers.get("variable_call_uuid"))
        state["seen"] += 1
        if state["seen"] == count:
            state["end"] = time.perf_counter()
            finished.set()

    esl = greenswitch.InboundESL(host="127.0.0.1", port=port, password="ClueCon")
    esl.connect()
    esl.register_handle("*", on_event)
    start = time.perf_counter()
    esl.send("event plain ALL")
    if not finished.wait(timeout=120):
        raise SystemExit(f"greenswitch delivered {state['seen']} of {count} events")
    return count / (state["end"] - start)


if __name__ == "__main__":
    name, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    rate = {"switchio_lab": run_switchio_lab, "greenswitch": run_greenswitch}[name](port, count)
    print(f"{rate:.0f}")
