"""BLE link failures sorted into named classes, each with its operator advice and its own
backoff (bleak-retry-connector style): whatever bleak, BlueZ or the OS raised is mapped to
one of them by `classify` (drivers/ble_link.py reconnects by it; `monitord scan` says it).
"""

from __future__ import annotations

from bleak.exc import (
    BleakDBusError,
    BleakDeviceNotFoundError,
    BleakError,
    BleakGATTProtocolError,
)


class BleLinkError(Exception):
    """A classified BLE failure. `advice` is for the operator; backoff is per class."""

    backoff_base_s = 1.0
    backoff_cap_s = 30.0
    advice = ""

    def __str__(self) -> str:
        msg = super().__str__()
        return f"{msg} ({self.advice})" if self.advice else msg


class DeviceGone(BleLinkError):
    backoff_base_s = 1.0
    backoff_cap_s = 30.0
    advice = "check the device is switched on, in range and not connected to a phone"


class AddressNotSeen(DeviceGone):
    # The configured address is not on the air while other devices advertise its service.
    # One may be this device at a new address: a resolvable private address changes every
    # ~15 min (Core spec Vol 3 Part C Appendix A: TGAP(private_addr_int), 15 min
    # recommended), and only a bonded host
    # holding the device's IRK resolves it to the device's identity address (BlueZ: the
    # kernel resolves with the keys of `pair`ed devices; mgmt-api "Load Identity
    # Resolving Keys").
    advice = (
        "if one of these is this device, it changes its address: pair it on the hub once "
        "(`bluetoothctl`: `scan on`, `pair` and `trust` the address it shows now) and set "
        "`address` to the one `bluetoothctl devices` then lists for it, or configure it by "
        "`name` alone; else check it is switched on, in range and not connected to a phone"
    )


class AdapterBusy(BleLinkError):
    backoff_base_s = 2.0
    backoff_cap_s = 60.0
    advice = (
        "the Bluetooth adapter is busy or off: check `bluetoothctl show` and that no other "
        "program is scanning or connecting"
    )


class NoAdapter(AdapterBusy):
    # No powered adapter on the hub: the USB dongle pulled out, `rfkill block`, hci0 down or
    # reset. bleak's BlueZ backend raises BleakBluetoothNotAvailableError "No Bluetooth
    # adapters found." or "No powered Bluetooth adapters found." (bleak 3
    # bluezdbus/manager.py `get_default_adapter`), BlueZ answers StartDiscovery and Connect
    # on an adapter powered off with org.bluez.Error.NotReady (src/adapter.c
    # start_discovery, src/device.c connect_profiles). Said as AdapterBusy, "busy or off:
    # check that no other program is scanning", with its 60-s cap: a dongle plugged back in
    # after a few minutes was used up to a minute later, every BLE chair without readings
    # (and their alarms) meanwhile. Looking for it costs a D-Bus call: a short cap.
    backoff_base_s = 1.0
    backoff_cap_s = 5.0
    advice = (
        "no powered Bluetooth adapter on this hub, every BLE device on it is down: check "
        "the USB Bluetooth dongle is plugged in, `rfkill list` (blocked: `rfkill unblock "
        "bluetooth`) and `bluetoothctl show` (Powered: no: `bluetoothctl power on`)"
    )


class Transient(BleLinkError):
    backoff_base_s = 0.5
    backoff_cap_s = 15.0
    advice = "retrying; if this repeats, move the device closer to the hub"


class NoBluez(BleLinkError):
    # Not the device's fault: no D-Bus system bus (its socket missing: bleak raises a bare
    # FileNotFoundError) or no bluetoothd on it (org.bluez "not provided"). Said as
    # Transient's "move the device closer to the hub", a biomedical engineer went to the
    # chair while the fix is on the Pi (`monitord doctor`'s bluetooth line says the same).
    backoff_base_s = 2.0
    backoff_cap_s = 30.0
    advice = (
        "BlueZ is not reachable on the D-Bus system bus: check `systemctl status dbus "
        "bluetooth` (apt-get install bluez) and `monitord doctor`"
    )


class AmbiguousName(BleLinkError):
    # A device configured by `name` alone, advertised by two or more devices: cuffs of one
    # model share their name, so one may be the next chair's (its patient's readings
    # taken as this chair's). Not a fault that goes by retrying fast: the other device
    # stays in range until the config names the address.
    backoff_base_s = 5.0
    backoff_cap_s = 60.0
    advice = (
        "set `address` for this device (the one on this chair: `monitord scan` lists each "
        "with its signal; or `bluetoothctl info` on its address) so that only it is read"
    )


class NeedsPairing(BleLinkError):
    # The device answers the subscription (the CCCD write) or a read with "insufficient
    # authentication/encryption": it talks to a bonded central only (A&D UA-651BLE: obniz
    # parts/Ble/UA651BLE README). BlueZ tried to pair on its own and failed (no bond, the
    # cuff not in its pairing mode). Said as Transient's "move the device closer", an
    # engineer moved a cuff that no retry would ever read.
    backoff_base_s = 5.0
    backoff_cap_s = 60.0
    advice = (
        "the device accepts only a paired hub: put it in pairing mode (A&D: hold the "
        "start button until `Pr` shows) and pair it once on the hub: "
        "`bluetoothctl`, `scan on`, `pair ADDRESS`, `trust ADDRESS` (docs/devices.md "
        '"Pairing and bonding")'
    )
    address: str | None = None  # the device's, when known: put in the advice

    def __str__(self) -> str:
        text = super().__str__()
        return text.replace("ADDRESS", self.address) if self.address else text


class ProfileMismatch(BleLinkError):
    backoff_base_s = 30.0
    backoff_cap_s = 300.0
    advice = "the device lacks the expected GATT service: check `driver` for this device"


_BUSY_HINTS = ("inprogress", "in progress", "busy", "no discovery")
# bleak's reasons for no adapter to use (BleakBluetoothNotAvailableReason names), BlueZ's
# error for an adapter powered off, and bleak's words for a named adapter not there.
_NO_ADAPTER_REASONS = ("NO_BLUETOOTH", "POWERED_OFF")
_NO_ADAPTER_HINTS = ("org.bluez.error.notready", "not ready", "notready")


# ATT insufficient authentication 0x05, encryption key size 0x0C, encryption 0x0F. BlueZ
# says all three as `org.bluez.Error.NotPermitted` "Not paired" (src/gatt-client.c,
# `create_gatt_dbus_error`; BlueZ 5.4x `org.bluez.Error.NotPaired` "Not Paired"), which
# bleak 3 raises as a BleakDBusError "[org.bluez.Error.NotPermitted] Not paired": that text
# matched none of the hints below, and a cuff needing pairing was told "move the device
# closer". Other bleak backends name the code (BleakGATTProtocolError, or "ATT error:
# 0x05"). BlueZ's answers to a failed pairing (src/device.c new_authentication_return):
# AuthenticationFailed (keys refused, pairing unsupported: the default) and ...Rejected
# (MGMT rejected or busy; HCI 0x06 key missing, 0x18 pairing not allowed) are a pairing
# matter; ...Canceled (MGMT cancelled, no resources, disconnected) and ...Timeout (no
# answer) are not: retried as Transient, they cost no 5-60 s wait and no pairing advice.
_NOT_PAIRED = {"org.bluez.Error.NotPaired": None, "org.bluez.Error.NotPermitted": "not paired"}
_PAIRING_CODES = frozenset({0x05, 0x0C, 0x0F})
_PAIRING_HINTS = (
    "att error: 0x05",
    "att error: 0x0c",
    "att error: 0x0f",
    "insufficient authentication",
    "insufficient encryption",
    "org.bluez.error.authenticationfailed",
    "org.bluez.error.authenticationrejected",
)

_NO_BLUEZ_HINTS = ("org.freedesktop.DBus.Error.ServiceUnknown", "org.bluez was not provided")


def _no_bluez(exc: BaseException) -> bool:
    """bluetoothd is not on the bus (bleak's BleakDBusError names the D-Bus error)."""
    return isinstance(exc, BleakError) and any(h in str(exc) for h in _NO_BLUEZ_HINTS)


def _not_paired(exc: BaseException) -> bool:
    """BlueZ's "Not paired" (its D-Bus error for ATT 0x05/0x0C/0x0F), or bleak's code."""
    if isinstance(exc, BleakGATTProtocolError):
        return int(exc.code) in _PAIRING_CODES
    if isinstance(exc, BleakDBusError) and exc.dbus_error in _NOT_PAIRED:
        wanted = _NOT_PAIRED[exc.dbus_error]
        return wanted is None or (exc.dbus_error_details or "").strip().lower() == wanted
    return False


def _no_adapter(exc: BaseException) -> bool:
    """No powered adapter (NoAdapter's comment): bleak's reason, or BlueZ's NotReady."""
    reason = getattr(getattr(exc, "reason", None), "name", None)
    if type(exc).__name__ == "BleakBluetoothNotAvailableError":
        return reason in _NO_ADAPTER_REASONS
    text = str(exc).lower()
    if isinstance(exc, BleakError) and "adapter '" in text and "' not found" in text:
        return True
    return isinstance(exc, BleakError | OSError) and any(h in text for h in _NO_ADAPTER_HINTS)


def classify(exc: BaseException) -> BleLinkError:
    """Map whatever bleak/BlueZ/the OS raised to one of the named error classes."""
    if isinstance(exc, BleLinkError):
        return exc
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if _no_adapter(exc) and len(exc.args) == 2:  # bleak's (message, reason): the message
        text = f"{type(exc).__name__}: {exc.args[0]}"
    if isinstance(exc, BleakDeviceNotFoundError):
        return DeviceGone(text)
    if isinstance(exc, FileNotFoundError | ConnectionRefusedError) or _no_bluez(exc):
        return NoBluez(text)
    if _not_paired(exc) or (
        isinstance(exc, BleakError) and any(h in str(exc).lower() for h in _PAIRING_HINTS)
    ):
        return NeedsPairing(text)
    if _no_adapter(exc):
        return NoAdapter(text)
    if type(exc).__name__ == "BleakBluetoothNotAvailableError":
        return AdapterBusy(text)
    if isinstance(exc, BleakError | OSError) and any(
        h in str(exc).lower().replace(".", "") for h in _BUSY_HINTS
    ):
        return AdapterBusy(text)
    return Transient(text)


__all__ = [
    "AdapterBusy",
    "AddressNotSeen",
    "AmbiguousName",
    "BleLinkError",
    "DeviceGone",
    "NeedsPairing",
    "NoAdapter",
    "NoBluez",
    "ProfileMismatch",
    "Transient",
    "classify",
]
