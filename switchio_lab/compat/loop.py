"""One background event-loop thread, as switchio ran its listener: blocking calls from any
other thread submit coroutines to it and wait for their results, so ``time.sleep`` in a
script never stops the events from flowing."""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_thread: threading.Thread | None = None


def get_loop() -> asyncio.AbstractEventLoop:
    """The compat loop, started (in a daemon thread) on first use."""
    global _loop, _thread
    with _lock:
        if _loop is None or _loop.is_closed() or _thread is None or not _thread.is_alive():
            loop = asyncio.new_event_loop()
            ready = threading.Event()

            def main() -> None:
                asyncio.set_event_loop(loop)
                loop.call_soon(ready.set)
                loop.run_forever()

            thread = threading.Thread(target=main, name="switchio-compat-loop", daemon=True)
            thread.start()
            ready.wait()
            _loop, _thread = loop, thread
        return _loop


def in_loop_thread() -> bool:
    return _thread is not None and threading.current_thread() is _thread


def submit(aw: Awaitable[T]) -> concurrent.futures.Future[T]:
    """Start ``aw`` on the loop; returns a :class:`concurrent.futures.Future` at once."""
    async def go() -> T:
        return await aw
    return asyncio.run_coroutine_threadsafe(go(), get_loop())


def run(aw: Awaitable[T], timeout: float | None = None) -> T:
    """Block until ``aw`` is done on the loop; ``timeout`` cancels it (TimeoutError)."""
    if in_loop_thread():
        close = getattr(aw, "close", None)
        if close is not None:
            close()
        raise RuntimeError("a blocking switchio call from the event loop thread (an app's "
                           "callback) would deadlock: await the coroutine instead")
    fut = submit(aw)
    try:
        return fut.result(timeout)
    except concurrent.futures.TimeoutError:
        if fut.done():  # the awaitable's own timeout: pass it on as it is
            raise
        fut.cancel()
        raise TimeoutError(f"not done within {timeout} s") from None
    except BaseException:
        fut.cancel()
        raise


def call(func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call plain ``func`` on the loop thread (what creates tasks must) and return its result;
    from the loop thread itself it is called directly."""
    if in_loop_thread():
        return func(*args, **kwargs)

    async def go() -> T:
        return func(*args, **kwargs)
    return run(go())


def stop() -> None:
    """Stop and close the loop (its tasks cancelled); the next call starts a new one."""
    global _loop, _thread
    with _lock:
        loop, thread, _loop, _thread = _loop, _thread, None, None
    if loop is None or loop.is_closed():
        return

    async def cancel_all() -> None:
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=2.0)

    if thread is not None and thread.is_alive():
        try:
            asyncio.run_coroutine_threadsafe(cancel_all(), loop).result(5)
        except Exception:  # pragma: no cover - best effort at exit
            pass
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
    if not loop.is_running():
        loop.close()


atexit.register(stop)

__all__ = ["call", "get_loop", "in_loop_thread", "run", "stop", "submit"]
