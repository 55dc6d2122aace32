"""What `[mqtt] prefix` and `ha_prefix` may hold (monitord/config.py): every topic of a
chair, a station and Home Assistant's discovery documents starts with them, so a value
the broker refuses, or one nobody subscribes to as intended, loses everything silently.
And `[mqtt] username` and `client_id`, which the broker checks as it checks a topic.

`[site] id`, `[[chairs]] id` and `[station] id` are one topic level each and need no check
here: their pattern (`Ident`, monitord/config_base.py) takes only letters, digits, `_`,
`.` and `-`, at most 64, starting with a letter or digit.
"""

from __future__ import annotations

# MQTT topics are at most 65,535 bytes; a prefix near that made every publish fail after
# connecting (a crash loop without a delivery alarm). 200 leaves room for the rest.
MAX_PREFIX_BYTES = 200


def no_control(v: str) -> str:
    """`v` unless it holds a control character: MQTT forbids U+0000 in strings and topics;
    the others are never meant."""
    bad = next((c for c in v if ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0), None)
    if bad is not None:
        raise ValueError(f"contains the control character U+{ord(bad):04X}")
    return v


def _noncharacter(v: str) -> str | None:
    # MQTT 5.0 section 1.5.4 says a string SHOULD NOT hold Unicode noncharacters
    # (U+FDD0..U+FDEF, U+xxFFFE, U+xxFFFF), and mosquitto refuses them as malformed UTF-8:
    # a publish on such a topic was answered by dropping the connection (seen on
    # mosquitto 2.0.11, tests/test_config_topics.py), so no alert ever reached it.
    for c in v:
        n = ord(c)
        if 0xFDD0 <= n <= 0xFDEF or (n & 0xFFFE) == 0xFFFE:
            return f"U+{n:04X}"
    return None


def topic_prefix(v: str) -> str:
    """`[mqtt] prefix` as it may start every topic: one or more levels joined by `/`."""
    if not v or any(c in v for c in "#+") or v.startswith("/") or v.endswith("/"):
        raise ValueError("must be a topic prefix without wildcards or leading/trailing '/'")
    if "//" in v:
        # `a//b` is a topic of an empty level: the chairs publish under it, and whoever
        # subscribes to the prefix as it was meant (`a/b/...`, an ACL pattern) sees none.
        raise ValueError(
            "has an empty topic level ('//'): separate the levels with one '/', e.g. 'a/b'"
        )
    if v.startswith("$"):
        # Topics starting with '$' are the broker's ($SYS): publishes are dropped and
        # wildcard subscribers never see them, so everything would be lost silently.
        raise ValueError("must not start with '$' (reserved for the broker, e.g. $SYS)")
    if len(v.encode("utf-8")) > MAX_PREFIX_BYTES:
        raise ValueError(f"is longer than {MAX_PREFIX_BYTES} bytes")
    return _no_noncharacter(no_control(v))


def topic_level(v: str) -> str:
    """`[mqtt] ha_prefix`: Home Assistant's discovery prefix, one topic level."""
    if not v or any(c in v for c in "#+/$"):
        raise ValueError("must be one topic level without wildcards, '/' or '$'")
    if len(v.encode("utf-8")) > MAX_PREFIX_BYTES:
        raise ValueError(f"is longer than {MAX_PREFIX_BYTES} bytes")
    return _no_noncharacter(no_control(v))


def _no_noncharacter(v: str, where: str = "in a topic") -> str:
    bad = _noncharacter(v)
    if bad is not None:
        raise ValueError(
            f"contains the Unicode noncharacter {bad}, which the broker refuses {where} "
            "(it drops the connection)"
        )
    return v


def login_text(v: str) -> str:
    """`[mqtt] username` and `client_id`: sent in the CONNECT, whose strings mosquitto
    checks as it checks a topic's. A noncharacter in either had the connection dropped
    before any answer (seen on mosquitto 2.0.11, tests/test_config_topics.py), which the
    daemon could only report as a broker that does not answer."""
    return _no_noncharacter(no_control(v), "in a login")
