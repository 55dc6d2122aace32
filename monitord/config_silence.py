"""A device's link silence against its driver's timing: `check-config` / `doctor`
warnings (monitord/config_checks.py). Warned of, not refused: refusing would stop all
monitoring at an upgrade; such a link is dropped and reopened while the device works,
readings lost, not silently gone (docs/devices.md, "silence_s")."""

from __future__ import annotations

from monitord.config_devices import DeviceConfig, driver_schema


def silence_warning(dev: DeviceConfig) -> tuple[str, str]:
    """The device key a warning is about and why its silence is too short for its
    driver's output period or for one frame lost to line noise; ("", "") when it is not.
    A simulated device plays on its own clock."""
    desc = driver_schema(dev.driver)
    period = desc.period_s if desc is not None else None
    if desc is None or period is None or dev.simulate is not None:
        return "", ""
    # A polled device (IntelliVue) talks only to answer: its poll interval, the default
    # one included, comes before the answer's `period_s`; an answer lost to noise is not
    # asked again, so the next is heard two polls and an answer after the last.
    poll = dev.settings.poll_s()
    lost = (2 * poll + period) if poll is not None else desc.one_lost_s
    default = desc.default_silence_s
    if dev.silence_s is None:
        # The driver's default silence outlasts one lost unit at its own default poll
        # (drivers/registry.py checks it), not at every poll a device sets: polled every
        # 3 s, one noisy answer left 7 s without one and the default 5 s dropped the link.
        if poll is None or default is None or lost is None or default > lost:
            return "", ""
        return "poll_interval_s", (
            f"polled every {poll:g} s, the {dev.driver} device gives no answer for up to "
            f"{lost:g} s when one is lost to line noise (two polls and an answer), not within "
            f"the driver's default silence_s of {default:g} s: one noisy answer would drop and "
            f"reopen the working link (tech.device_lost), readings lost; set silence_s above "
            f"{lost:g} or poll_interval_s below {(default - period) / 2:g}"
        )
    unset = f"remove it for the driver's default, {default:g} s" if default else "remove it"
    if poll is not None and dev.silence_s < poll + period:
        # The advice (as IntelliVueOptions') also outlasts one answer lost to noise:
        # "at least poll + 1" was then warned of as within one lost answer.
        return "silence_s", (
            f"{dev.silence_s:g} s is shorter than the {dev.driver} device's poll (every "
            f"{poll:g} s) and its answer (within {period:g} s): the link would be dropped and "
            f"reopened while the device works, readings lost; set silence_s above {lost:g} "
            f"(two polls and an answer, one lost to line noise; or {unset})"
        )
    if poll is None and dev.silence_s <= period:
        return "silence_s", (
            f"{dev.silence_s:g} s is not longer than the {dev.driver} device's output period "
            f"({period:.3g} s between two lines or packets): the link would be dropped and "
            f"reopened while the device works, readings lost; set silence_s above "
            f"{period:.3g} (or {unset})"
        )
    # One frame lost to noise costs its packet or line (the reader waits for the next).
    if lost is None or dev.silence_s > lost:
        return "", ""
    return "silence_s", (
        f"{dev.silence_s:g} s is not longer than the {lost:.3g} s the {dev.driver} device "
        f"takes to give the next reading when one frame or line is lost to line noise: "
        f"one noisy frame would drop and reopen the working link (tech.device_lost), "
        f"readings lost; set silence_s above {lost:.3g} (or {unset})"
    )
