"""Nurse logins: the nurses file, hashed PINs, sessions with a TTL, CSRF tokens.

The nurses file has one line per nurse, `name:pbkdf2_sha256$iterations$salt$hash`
(salt and hash in hex); blank lines and `#` comments are ignored. It is read at every
login, so adding a nurse (`monitord station --add-nurse NAME`) needs no restart.
Times here are the wall clock on purpose: a login lasting a shift is a wall-clock matter,
and nothing here feeds the alert engine.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

SCHEME = "pbkdf2_sha256"
ITERATIONS = 200_000  # ~0.1 s on a Pi 4 per login; a PIN is short, so make guesses slow
NAME_RE = re.compile(r"^[^:\n\r\x00]{1,64}$")
# Expired entries dropped per call at most: work bounded per request, and more than the one
# entry a call can add, so a map shrinks back to its live entries after a flood.
PRUNE_STEP = 16
K = TypeVar("K")
V = TypeVar("V")


class NursesFileError(ValueError):
    """The nurses file cannot be used; the message names the line."""


def hash_pin(pin: str, *, salt: bytes | None = None, iterations: int = ITERATIONS) -> str:
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", pin.encode("utf-8"), salt, iterations)
    return f"{SCHEME}${iterations}${salt.hex()}${digest.hex()}"


def verify_pin(pin: str, stored: str) -> bool:
    try:
        scheme, iters, salt, digest = stored.split("$")
        if scheme != SCHEME:
            return False
        got = hashlib.pbkdf2_hmac("sha256", pin.encode("utf-8"), bytes.fromhex(salt), int(iters))
    except ValueError:
        return False
    return hmac.compare_digest(got.hex(), digest)


def check_login(nurses: dict[str, str], name: str, pin: str) -> bool:
    """The PIN is `name`'s. An unknown name costs the same PBKDF2 work as a known one (a
    stand-in hash with the file's own iteration count): an answer that came at once
    would tell a guesser which names exist."""
    stored = nurses.get(name)
    ok = verify_pin(pin, stored if stored is not None else _stand_in(nurses))
    return ok and stored is not None


def _stand_in(nurses: dict[str, str]) -> str:
    """A hash no PIN matches (a random digest), with the iterations of the file's first
    nurse (all the same unless the file was written by hand), else the default."""
    iters = next((s.split("$")[1] for s in nurses.values()), str(ITERATIONS))
    return f"{SCHEME}${iters}${secrets.token_hex(16)}${secrets.token_hex(32)}"


# Characters with nothing to see in a name (the report's `drawable` escapes them): a
# byte-order mark or zero-width space pasted in, a bidi override, a control character, a
# lone surrogate (bytes not UTF-8 on the command line, which stopped --add-nurse with a
# UnicodeEncodeError traceback). "anna\u200b" was added beside "anna": two nurses the
# station and the HTML and CSVs show alike, and each `by` no longer said which.
_UNSEEN = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
# Zero-width non-joiner and joiner: part of the spelling of names in Persian, Devanagari.
_JOINERS = frozenset("\u200c\u200d")


def nurse_line(name: str, pin: str) -> str:
    if not NAME_RE.match(name) or name != name.strip():
        raise NursesFileError(f"nurse name {name!r}: 1-64 characters, no ':' or newline")
    unseen = [c for c in name if unicodedata.category(c) in _UNSEEN and c not in _JOINERS]
    if unseen and unicodedata.category(unseen[0]) == "Cs":
        raise NursesFileError(
            f"nurse name {name!r}: not UTF-8 (a byte the terminal sent in another "
            f"encoding, here as U+{ord(unseen[0]):04X}): set the terminal to UTF-8"
        )
    if unseen:
        raise NursesFileError(
            f"nurse name {name!r}: U+{ord(unseen[0]):04X} shows as nothing, so the name "
            "would look like another's on the station and the report; type it without"
        )
    if len(pin) < 4:
        raise NursesFileError("PIN: at least 4 characters")
    return f"{name}:{hash_pin(pin)}\n"


def load_nurses(path: Path) -> dict[str, str]:
    """name -> stored hash; raises NursesFileError naming the first bad line."""
    out: dict[str, str] = {}
    # utf-8-sig: a file saved by Notepad starts with a byte-order mark, which was read as
    # part of the first nurse's name: her login was refused as a name that is no nurse's.
    text = path.read_text(encoding="utf-8-sig")
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, stored = line.partition(":")
        if not sep or not NAME_RE.match(name) or stored.count("$") != 3:
            raise NursesFileError(f"line {n}: expected 'name:{SCHEME}$...' (see --add-nurse)")
        if not stored.startswith(SCHEME + "$"):
            raise NursesFileError(f"line {n}: unknown hash scheme (expected {SCHEME})")
        if name in out:
            raise NursesFileError(f"line {n}: nurse {name!r} appears twice")
        out[name] = stored
    return out


@dataclass
class Login:
    nurse: str
    csrf: str
    expires: float


@dataclass
class Logins:
    """Open logins by session token (in memory: a restarted station asks for PINs again).
    Expired ones are dropped as they are met and, from the oldest, a few per call: a
    login never logged out (a closed tab) must not stay for the station's uptime."""

    ttl_s: float
    clock: Callable[[], float] = time.time
    _by_token: dict[str, Login] = field(default_factory=dict)  # oldest first

    def open(self, nurse: str, now: float | None = None) -> tuple[str, Login]:
        now = self.clock() if now is None else now
        self._prune(now)
        token = secrets.token_urlsafe(32)
        login = Login(nurse, secrets.token_urlsafe(24), now + self.ttl_s)
        self._by_token[token] = login
        return token, login

    def get(self, token: str | None, now: float | None = None) -> Login | None:
        now = self.clock() if now is None else now
        self._prune(now)
        if not token:
            return None
        login = self._by_token.get(token)
        if login is None:
            return None
        if login.expires <= now:
            del self._by_token[token]
            return None
        return login

    def close(self, token: str | None) -> None:
        if token:
            self._by_token.pop(token, None)

    def _prune(self, now: float) -> None:
        # Opened in order, so expiring in order (one TTL), but for a wall clock stepped
        # back: then a later login waits behind an earlier one, and is dropped after it.
        prune_oldest(self._by_token, lambda login: login.expires <= now)


@dataclass
class RateLimit:
    """At most `attempts` failed logins per `window_s` from one client address. An address
    is forgotten once its failures are older than the window (a phone's addresses change
    with DHCP and IPv6 privacy): checked as it is met and, from the address whose last
    failure is the oldest, a few per attempt."""

    attempts: int = 5
    window_s: float = 60.0
    clock: Callable[[], float] = time.time
    _fails: dict[str, list[float]] = field(default_factory=dict)  # last failure oldest first

    def blocked(self, who: str, now: float | None = None) -> bool:
        now = self.clock() if now is None else now
        recent = [t for t in self._fails.get(who, []) if now - t < self.window_s]
        if recent:
            self._fails[who] = recent
        else:
            self._fails.pop(who, None)
        return len(recent) >= self.attempts

    def failed(self, who: str, now: float | None = None) -> None:
        # Moved to the end: the dict stays ordered by last failure, for _prune.
        fails = self._fails.pop(who, [])
        fails.append(self.clock() if now is None else now)
        self._fails[who] = fails

    def attempt(self, who: str, now: float | None = None) -> bool:
        """False when blocked; else the attempt counts as failed until `succeeded`. Counted
        before the PIN is checked: the check takes a while (in a thread), and guesses sent
        all at once must not all pass `blocked` before the first failure is counted."""
        now = self.clock() if now is None else now
        self._prune(now)
        if self.blocked(who, now):
            return False
        self.failed(who, now)
        return True

    def succeeded(self, who: str) -> None:
        """Take back the failure `attempt` counted for a login that was not one."""
        fails = self._fails.get(who)
        if fails:
            fails.pop()
        if not fails:
            self._fails.pop(who, None)

    def _prune(self, now: float) -> None:
        prune_oldest(self._fails, lambda fails: not fails or now - fails[-1] >= self.window_s)


def prune_oldest(entries: dict[K, V], expired: Callable[[V], bool]) -> None:
    """Drop up to PRUNE_STEP entries from the front of `entries` (kept oldest first) while
    `expired` says so: work bounded per call, and more than a call adds."""
    for _ in range(PRUNE_STEP):
        oldest = next(iter(entries.items()), None)
        if oldest is None or not expired(oldest[1]):
            return
        del entries[oldest[0]]
