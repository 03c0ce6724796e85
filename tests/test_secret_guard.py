"""The password guard itself: it must see what it is there to see (a guard that cannot fail
proves nothing)."""

from __future__ import annotations

import logging

import pytest
from secret_guard import _Collector, assert_no_secret, leaks


def test_it_finds_passwords_and_spares_freeswitch_goodbye(secret: str) -> None:
    assert leaks(f"auth {secret}") == [secret]
    assert leaks("auth ClueCon") == ["ClueCon"]
    assert leaks("Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n") == []
    with pytest.raises(AssertionError, match="a password"):
        assert_no_secret("fine", f"-ERR bad block: {secret}")


def test_a_record_with_a_password_is_collected(secret: str) -> None:
    collector = _Collector()
    log = logging.getLogger("switchio_lab.selftest")
    log.addHandler(collector)
    log.propagate = False  # kept from the suite's own guard, which would fail this test
    try:
        log.warning("malformed command block %r", f"auth {secret}\nContent-Length: x")
        try:
            raise ValueError(secret)
        except ValueError:
            log.exception("failed")  # in the traceback only
    finally:
        log.removeHandler(collector)
        log.propagate = True
    assert len(collector.found) == 2
