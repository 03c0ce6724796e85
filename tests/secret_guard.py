"""The suite-wide password guard: no log record the suite produces shows a password.

Every record of the ``switchio_lab`` loggers at INFO and above (and every traceback they
carry) is read while each test runs; a test during which a password appeared in one fails
at teardown, naming the record. Passwords: FreeSWITCH's default ``ClueCon`` (outside
FreeSWITCH's own goodbye text, which names the conference) and every password a test
asked for through the ``secret`` fixture. CLI outputs go through :func:`assert_no_secret`.
"""

from __future__ import annotations

import logging
import secrets as _secrets

import pytest

#: the default password; FreeSWITCH's goodbye text names the conference, not the password
DEFAULT = "ClueCon"
ALLOWED = ("See you at ClueCon", "www.cluecon.com")
_known: set[str] = {DEFAULT, "s3cret-Wr0ng"}


def leaks(text: str) -> list[str]:
    """The passwords ``text`` shows."""
    for allowed in ALLOWED:
        text = text.replace(allowed, "")
    return sorted(pw for pw in _known if pw in text)


def assert_no_secret(*texts: str) -> None:
    """Fail if any of ``texts`` (e.g. a CLI's stdout and stderr) shows a password."""
    for text in texts:
        found = leaks(text or "")
        assert not found, f"a password ({found}) appears in: {text[:500]!r}"


class _Collector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.found: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
        except Exception:  # a record that cannot be formatted is the logging test's business
            return
        if leaks(text):
            self.found.append(text[:300])


@pytest.fixture
def secret() -> str:
    """A fresh password for this test; the guard then looks for it too."""
    pw = "canary-" + _secrets.token_hex(6)
    _known.add(pw)
    return pw


@pytest.fixture(autouse=True)
def _no_password_in_logs():
    log = logging.getLogger("switchio_lab")
    collector = _Collector()
    level = log.level
    if log.getEffectiveLevel() > logging.INFO:
        log.setLevel(logging.INFO)
    log.addHandler(collector)
    try:
        yield
    finally:
        log.removeHandler(collector)
        log.setLevel(level)
    if collector.found:
        pytest.fail("a password appeared in the log:\n" + "\n".join(collector.found),
                    pytrace=False)
