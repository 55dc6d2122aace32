"""The BLE transport: find, connect, subscribe, watch, reconnect. It never parses.

State machine (one per configured device, runs until cancelled):

    SCANNING --found--> CONNECTING --services ok--> SUBSCRIBED (link up)
        ^                   |                          |  disconnect / silence
        |  not found,       | error                    v
        +---- BACKOFF <-----+---------------------- (link down)

- Find by `address`, else advertised `name`, else the profile's service UUID
  (drivers/ble_find.py). A name advertised at two or more addresses is not connected to
  (one may be the next chair's cuff: its patient's readings taken as this one's); a
  device configured by name that comes back at another address is taken and said at
  WARNING (an address that rotates, or another device of that name).
- Subscribe to the profile's characteristics (bleak's start_notify enables indications
  for 0x2A35/0x2A5E and notifications for the rest), read the feature characteristics.
- Each value goes through the profile's pure decoder; its measurements are stamped
  (drivers/measurement.py) and go to `ctx.emit`, bad payloads to `ctx.reject`,
  cuff-pressure progress is only counted.
- Devices push stored measurements again on every connection. Every measurement goes to
  the hub, which tells repeats and stored records from live ones and counts them
  (monitord/history.py); the decoder marks the discrete records a device may re-send
  (PLX spot-checks: `Measurement.record`) so the hub never mistakes a serial oximeter's
  1-s samples with a stuck clock for repeats. The hub must see each connection start
  before the records pushed on it: link
  up is reported on every connection (also an `episodic` cuff's reconnect), and values
  that arrive while notifications are being enabled (a cuff pushes its memory as soon as
  the CCCD is written) are emitted right after it.
- Silence: no value for `silence_s` seconds (monotonic wall time, also for simulated
  chairs, whose scenario gaps shrink with their speed) means the link is dead even if
  the stack still says connected. Receive times come from `ctx.now()` only. A value the
  decoder rejects is no value: up means the device speaks its protocol, as on a serial
  link (`no data decoded`), so a device whose every value is rejected is a lost link and
  its `tech.device_lost` comes; before, each reject kept the link up, with no reading.
  A decoder that raises (a bug) gives no value either; said at ERROR once per run. A
  feature characteristic's decoder that raises is said so too, and the link goes on.
- A connection is evidence of life only until one gives nothing: after a connection
  that ended (silent, or hung up by the device) without a single value, the next one
  reports link up with its first value, not on subscribing. Otherwise a device that
  connects but never notifies (not bonded, a stuck sensor) flapped up and down every
  `silence_s` and `tech.device_lost` (link down for 30 s) never came. The first
  connection of a run is up at once: a cuff waits minutes for its first measurement.
  A record its device marks "from storage" (a PLX spot-check) is history, not a value;
  but the connection is kept while they come, the link down (cut off, a long memory was
  sent again from its start on each connection: the live values after it never came).
- Errors are classified (`DeviceGone`, `AdapterBusy`, `Transient`, `ProfileMismatch`),
  each with its own capped exponential backoff with jitter (its own base, cap and
  attempt count) and operator advice, logged at WARNING once per outage and at DEBUG on
  repeats. Only a connection that gave a value resets the counts: one that connected
  and gave nothing backs off like a failed one (`Transient`), or a device that takes
  the connection but never notifies was reconnected about every `silence_s` forever.
- Every connect that does not come up (timed out after `connect_timeout_s`, failed, or
  stopped part-way: link layer up, discovery or pairing slow) is hung up like a connection
  that ended: a link left open stays open in the controller, and the device, connected to
  nobody, stops advertising and is never found again. Each hang-up is shielded from a
  stop (the task ends once it is done, also on the daemon's stop) and bounded by
  `disconnect_timeout_s` (bleak-retry-connector's 5 s); one that does not finish is
  logged (WARNING once per outage).
- Cuffs that connect only after a measurement (quirk `episodic`) disconnect on purpose:
  a disconnect after a reading is not a link loss for them; silence still is.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from typing import Any

from bleak import BleakClient
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.device import BLEDevice
from bleak.exc import BleakError

from monitord.aio import within
from monitord.config import DeviceConfig
from monitord.drivers.base import DeviceContext, DriverDescriptor, Reject, RejectReason, stamp
from monitord.drivers.ble_bugs import told_once
from monitord.drivers.ble_errors import (
    AmbiguousName,
    BleLinkError,
    DeviceGone,
    NeedsPairing,
    NoAdapter,
    ProfileMismatch,
    Transient,
    classify,
)
from monitord.drivers.ble_find import air, claim, find, release
from monitord.drivers.ble_gatt import (
    Q_EPISODIC,
    Q_SETTLE,
    SETTLE_S,
    BleLinkSettings,
    BleProfile,
    BleSubscription,
)
from monitord.drivers.ble_hangup import hang_up
from monitord.drivers.ble_hub import hub_of  # NoAdapter: said once a hub, not per device
from monitord.drivers.ble_timing import LinkTiming as LinkTiming
from monitord.drivers.ble_timing import backoff_delay as backoff_delay
from monitord.drivers.tap import LinkTap
from monitord.models import FROM_STORAGE, Reading

log = logging.getLogger(__name__)


def _mono() -> float:
    return asyncio.get_running_loop().time()


class _Session:
    """Everything that survives reconnects for one device."""

    def __init__(
        self,
        dev: DeviceConfig,
        profile: BleProfile,
        ctx: DeviceContext,
        timing: LinkTiming,
        tap: LinkTap | None = None,
    ) -> None:
        self.dev = dev
        self.target = dev.settings_as(BleLinkSettings)
        self.tap = tap
        self.profile = profile
        self.ctx = ctx
        self.timing = timing
        self.silence_s = dev.silence_s if dev.silence_s is not None else profile.silence_s
        self.link_up: bool | None = None  # None until the first attempt
        self.told: list[str] = []  # the causes of this outage's downs told, the last one now
        self.warned: set[type[BleLinkError]] = set()
        self.hang_up_warned = False  # a disconnect that did not finish (cleared with warned)
        self.quirks: frozenset[str] = profile.quirks_for(self.target.name, dev.quirks)
        self.cuff_pressure_values = 0
        self.last_rx = _mono()  # the last decoded value (or the connection's start)
        self.rejected = 0  # values rejected since then
        self.from_memory = 0  # records the device marked as history since then
        self.memory_at, self.via = 0.0, ""  # the last one's time; this connection's up reason
        # The last decoder error since then (a bug: the decoder raised), for the link's
        # reason; and the errors already logged with their traceback (once per run).
        self.bug: str | None = None
        self.bugs_told: set[tuple[str, str, str]] = set()
        self.readings_this_connection = 0
        # Readings decoded while this connection's notifications are being enabled; None
        # once the link is reported up (see the module docstring).
        self.early: list[Reading] | None = None
        # A value (a reading or cuff pressure) came on this connection; and whether the
        # last connection ended without one (the next is then up only with a value).
        self.heard_this_connection = False
        self.gave_nothing = False
        self.up_on_value: str | None = None  # the link-up reason held for the first value
        self.address: str | None = None  # the last connection's (told when it changes)
        self.owner = f"{ctx.chair}/{ctx.device}"
        self.air = 0  # its scanner's (ble_find.air), set by run_ble_device
        self.hub = hub_of(None)  # its adapter (ble_hub), set by run_ble_device

    def connected(self, name: str | None) -> None:
        """A new connection to a device advertising `name`: its model's quirks apply
        unless the config names them. (`monitord decode --file` replays through this too.)"""
        if self.dev.quirks is None and name:
            # the advertised name picks the model's quirks (the config's `quirks` wins)
            quirks = self.profile.quirks_for(name, None)
            if quirks != self.quirks:
                log.info(
                    "%s/%s: %r: quirks %s",
                    self.ctx.chair,
                    self.ctx.device,
                    name,
                    ", ".join(sorted(quirks)) or "none",
                )
            self.quirks = quirks
        self.readings_this_connection = 0
        self.heard_this_connection = False
        self.up_on_value = None
        self.last_rx = _mono()
        self.rejected = self.from_memory = 0
        self.bug = None

    def at_address(self, address: str) -> None:
        """A connection to `address`. Configured by name, the device may come back at
        another address: its own, rotated (a resolvable private address), or another
        device of that name switched on while this one was not. Taken (refusing would
        lose a device that rotates), but said: readings now come from elsewhere."""
        if self.address is not None and address != self.address:
            log.warning(
                "%s/%s: %r now at %s, was %s: a device that changes its address, or "
                "another device of that name; if it is not this chair's, set `address`",
                self.ctx.chair,
                self.ctx.device,
                self.target.name,
                address,
                self.address,
            )
        self.address = address
        claim(self.air, address, self.owner, self)  # no other device here takes it (ble_find)

    def subscribed(self, reason: str) -> None:
        """Notifications are on: the link is up now, or with the first value when the
        last connection gave none (module docstring)."""
        self.via = reason
        if self.gave_nothing and not self.heard_this_connection:
            self.up_on_value = reason  # values stay held in `early` until then
            return
        self.set_link(True, reason)
        self.release_early()

    def silence(self, quiet: float) -> str:
        """Why the link is lost after `quiet` seconds without a decoded value."""
        limit = f"{quiet:.0f} s (limit {self.silence_s:g} s)"
        if self.bug is not None:
            return (
                f"driver error: {self.bug}: {self.rejected} values lost, none decoded for {limit}"
            )
        if self.rejected:
            return f"undecodable values: {self.rejected} rejected, none decoded for {limit}"
        if self.from_memory:
            return f"only stored records: {self.from_memory} from its memory, none live for {limit}"
        return f"silent: no data for {limit}"

    def memory_only(self, quiet: float) -> bool:
        """Whether the connection is kept, nothing live for `quiet` s: its memory still
        comes (a record within `silence_s`); its link down, up with a live value."""
        if not self.from_memory or _mono() - self.memory_at > self.silence_s:
            return False
        if self.up_on_value is None:
            self.set_link(False, self.silence(quiet))
            self.up_on_value = self.via
        return True

    def ended(self) -> None:
        """This connection is over (whatever ended it)."""
        self.gave_nothing = not self.heard_this_connection
        self.up_on_value = None

    def subscription(self, uuid: str) -> BleSubscription | None:
        wanted = uuid.lower()
        return next((sub for sub in self.profile.subscriptions if sub.uuid == wanted), None)

    # link state: report transitions, and every connection (the hub marks bursts by it)
    def set_link(self, up: bool, reason: str, kind: str = "") -> None:
        # A down is told again when its cause changed (the device gone, then needing pairing:
        # the status kept the first cause), not per retry of one (`kind`: its class, or the
        # text before a colon); a cause back again (two alternating) is journalled at DEBUG.
        kind = kind or reason.partition(":")[0]
        told = self.told if self.link_up is False else []
        if not up and told[-1:] == [kind]:
            return
        self.link_up, self.told = up, ([] if up else [*(k for k in told if k != kind), kind])
        if up:  # the outage over, its errors are said again (not per connection: see report)
            self.warned.clear()
            self.hang_up_warned = False
        level = logging.DEBUG if not up and kind in told else logging.INFO
        log.log(level, "%s: BLE link %s (%s)", self.owner, "up" if up else "down", reason)
        self.ctx.link(up, reason)

    def emit(self, reading: Reading) -> None:
        if self.early is not None:
            self.early.append(reading)
        else:
            self.ctx.emit(reading)

    def release_early(self) -> None:
        early, self.early = self.early or [], None
        for r in early:
            self.ctx.emit(r)

    def report(self, err: BleLinkError, delay: float) -> None:
        # the hub's adapter gone: said by the first of its devices to meet it (ble_hub).
        # `warned` is cleared by a link up (set_link), not by a connection that gave nothing.
        hub = isinstance(err, NoAdapter)
        again = not self.hub.first_gone() if hub else type(err) in self.warned
        self.warned.add(type(err))
        level = logging.DEBUG if again else logging.WARNING
        log.log(level, "%s/%s: %s; retry in %.1f s", self.ctx.chair, self.ctx.device, err, delay)

    def on_value(self, sub: BleSubscription, data: bytes) -> None:
        try:
            result = sub.decode(bytes(data), self.quirks)
        except Exception as e:  # a decoder bug, raised in the backend's callback
            self.decoder_failed(sub, e)
            return
        if isinstance(result, Reject):
            # not a sign of life: the silence timer runs on (module docstring)
            log.debug("%s/%s: %s rejected: %s", self.ctx.chair, self.ctx.device, sub.name, result)
            self.rejected += 1
            self.ctx.reject(result)
            return
        if result is not None and result.record and FROM_STORAGE in result.flags:
            # History by the device's word: an oximeter re-sending its stored spot-checks
            # on each connection and nothing live was up on each, and down after
            # `silence_s`: it flapped and `tech.device_lost` never came (module docstring).
            self.from_memory, self.memory_at = self.from_memory + 1, _mono()
            self.readings_this_connection += 1
            self.emit(stamp(result, self.ctx))
            return
        self.last_rx = _mono()
        self.rejected = self.from_memory = 0
        self.bug = None
        self.heard_this_connection = True
        if result is None:
            # Intermediate Cuff Pressure (0x2A36): the BLS sends it only "while a
            # measurement is in progress", on the link we subscribed; it proves the cuff
            # is there and measuring, so it is a value for link-up (never a reading).
            self.cuff_pressure_values += 1
        else:
            self.readings_this_connection += 1
            self.emit(stamp(result, self.ctx))
        if self.up_on_value is not None:
            reason, self.up_on_value = self.up_on_value, None
            self.set_link(True, f"{reason}; first value")
            self.release_early()

    def decoder_failed(self, sub: BleSubscription, e: Exception) -> None:
        """A decoder that raised (a bug) gave no value: no sign of life, as a reject.
        Raised into the backend's callback, it was logged there (asyncio: an ERROR per
        value) and the link went down as "silent: no data" while values came."""
        self.rejected += 1
        self.bug = f"{sub.name} decoder raised {type(e).__name__}: {e}"
        # Counted as the device's rejects are: while another characteristic decodes (a
        # cuff's pressure beside its lost measurement) the link stays up, and the count
        # in its status is where the loss shows (it read 0 with every value lost).
        self.ctx.reject(Reject(RejectReason.DRIVER_BUG, self.bug))
        lost = f"the value is lost; the link too if none decodes for {self.silence_s:g} s"
        key = ("value", sub.uuid, type(e).__name__)
        told_once(self.bugs_told, self.owner, key, sub.name, e, lost)


def _callback(
    s: _Session, sub: BleSubscription
) -> Callable[[BleakGATTCharacteristic, bytearray], None]:
    def on_value(_char: BleakGATTCharacteristic, data: bytearray) -> None:
        if s.tap is not None:
            s.tap.chunk("rx", bytes(data), sub.uuid)
        s.on_value(sub, bytes(data))

    return on_value


async def _connected_session(
    s: _Session,
    target: BLEDevice,
    client_backend: type | None,
) -> str:
    """Connect, subscribe, watch until the link ends; returns why it ended."""
    disconnected = asyncio.Event()
    kwargs: dict[str, Any] = {}
    if client_backend is not None:
        kwargs["backend"] = client_backend
    client = BleakClient(
        target,
        disconnected_callback=lambda _c: disconnected.set(),
        timeout=s.timing.connect_timeout_s,
        **kwargs,
    )
    # A connect that times out, fails or is stopped part-way (link layer up, discovery or
    # pairing slow) is hung up too: left open, BlueZ keeps the connection, the device stays
    # connected to nobody and stops advertising, and every later scan misses it.
    connecting = asyncio.ensure_future(client.connect())
    try:
        await within(connecting, s.timing.connect_timeout_s)  # never swallows a stop
    except BaseException as e:
        await hang_up(s, client, connecting)
        if isinstance(e, TimeoutError) and not str(e):  # (it said "TimeoutError: ")
            why = f"TimeoutError: connect not done in {s.timing.connect_timeout_s:g} s"
            raise Transient(why) from e
        raise
    try:
        s.connected(target.name)  # only a connection that came up, so ended() balances it
        if not s.target.address:
            s.at_address(target.address)
        if s.tap is not None:
            s.tap.connected(target.name, target.address)
        chars: list[tuple[BleSubscription, BleakGATTCharacteristic]] = []
        for sub in s.profile.subscriptions:
            ch = client.services.get_characteristic(sub.uuid)
            if ch is not None:
                chars.append((sub, ch))
        if not chars:
            raise ProfileMismatch(
                f"{target.address} has none of "
                + ", ".join(sub.name for sub in s.profile.subscriptions)
            )
        for feat in s.profile.features:
            fch = client.services.get_characteristic(feat.uuid)
            if fch is None:
                continue
            try:
                decoded = feat.decode(bytes(await client.read_gatt_char(fch)))
            except BleakError as e:
                log.info("%s/%s: %s not readable: %s", s.ctx.chair, s.ctx.device, feat.name, e)
                continue
            except Exception as e:  # a decoder bug: the features are only logged, and
                # raised from here it failed every connection (no reading ever came)
                why = "its features go unlogged; its readings go on"
                key = ("feature", feat.uuid, type(e).__name__)
                told_once(s.bugs_told, s.owner, key, feat.name, e, why)
                continue
            if isinstance(decoded, Reject):
                s.ctx.reject(decoded)
            else:
                log.info("%s/%s: %s: %s", s.ctx.chair, s.ctx.device, feat.name, decoded)
        s.readings_this_connection = 0
        s.last_rx = _mono()
        if Q_SETTLE in s.quirks:  # see drivers/ble_gatt.py Q_SETTLE
            await asyncio.sleep(SETTLE_S)
        s.early = []
        for sub, ch in chars:
            try:
                await client.start_notify(ch, _callback(s, sub))
            except BleakError as e:  # which characteristic refused (pairing: ble_errors)
                known = classify(e)
                err = type(known)(f"enabling {sub.name}: {known.args[0]}")
                if isinstance(err, NeedsPairing):
                    err.address = target.address
                raise err from e
        s.hub.answers(f"connected to {target.address}")
        s.subscribed(f"connected to {target.address}")
        while not disconnected.is_set():
            check = min(s.timing.silence_check_s, max(0.05, s.silence_s / 10))
            with contextlib.suppress(TimeoutError):
                await within(disconnected.wait(), check)  # never swallows a stop
            quiet = _mono() - s.last_rx
            if not disconnected.is_set() and quiet > s.silence_s and not s.memory_only(quiet):
                return s.silence(quiet)
        return "disconnected by the device"
    finally:
        s.ended()
        s.release_early()  # nothing decoded is dropped, whatever ended the connection
        await hang_up(s, client)


def replay_session(dev: DeviceConfig, desc: DriverDescriptor, ctx: DeviceContext) -> _Session:
    """The per-device state this link keeps (quirks by advertised name, de-duplication),
    for `monitord decode --file`: call `connected(name)` and `on_value(sub, data)` on it
    in the recorded order, as a live link does. Needs a running event loop."""
    if desc.ble_profile is None:
        raise TypeError(f"driver {desc.name!r} has no BLE profile")
    return _Session(dev, desc.ble_profile, ctx, LinkTiming())


async def run_ble_device(
    dev: DeviceConfig,
    desc: DriverDescriptor,
    ctx: DeviceContext,
    *,
    client_backend: type | None = None,
    scanner_backend: type | None = None,
    timing: LinkTiming | None = None,
    rng: random.Random | None = None,
    tap: LinkTap | None = None,
) -> None:
    """Keep one BLE device connected and its readings flowing, forever (until cancelled).

    `client_backend` / `scanner_backend` are bleak backend classes (None: the platform's,
    i.e. BlueZ on the Pi; monitord.simulators.bleak_bumble.backends(link) for simulated devices).
    `tap` sees every connection and every notification/indication (`monitord capture`).
    """
    profile = desc.ble_profile
    if profile is None:
        raise TypeError(f"driver {desc.name!r} has no BLE profile")
    timing = timing or LinkTiming()
    rng = rng or random.Random()
    s = _Session(dev, profile, ctx, timing, tap)  # unknown quirk names: refused by the config
    s.air, s.hub = air(scanner_backend), hub_of(scanner_backend)
    if s.target.address:
        claim(s.air, s.target.address, s.owner, s)
    try:
        await _run(s, profile, ctx, timing, rng, scanner_backend, client_backend, tap)
    finally:
        release(s)


async def _run(
    s: _Session,
    profile: BleProfile,
    ctx: DeviceContext,
    timing: LinkTiming,
    rng: random.Random,
    scanner_backend: type | None,
    client_backend: type | None,
    tap: LinkTap | None,
) -> None:
    """run_ble_device's loop: find, connect, watch, back off; forever."""
    # attempts per error class since a connection last gave a value (module docstring)
    attempts: dict[type[BleLinkError], int] = {}

    def next_delay(err: BleLinkError) -> float:
        n = attempts.get(type(err), 0)
        attempts[type(err)] = n + 1
        return backoff_delay(err, n, timing, rng)

    episodic = Q_EPISODIC in s.quirks
    me = asyncio.current_task()
    while True:
        # Python 3.11's asyncio.wait_for (used inside bleak) can swallow a cancellation that
        # races with its own timeout; the request is still recorded on the task, so honour
        # it here rather than scanning on forever after a stop.
        if me is not None and me.cancelling():
            raise asyncio.CancelledError
        try:
            target = await find(s.target, profile, timing, scanner_backend, s.address, s.owner)
            s.hub.answers(f"a scan found {target.address}")
            reason = await _connected_session(s, target, client_backend)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # classified below; nothing escapes but cancellation
            err = classify(e)
            if isinstance(err, DeviceGone | AmbiguousName):  # a scan ran: the adapter is there
                s.hub.answers(f"a scan: {type(err).__name__}")
            if tap is not None:  # (a capture stopped by cancelling records no disconnect)
                tap.disconnected(str(err))
            delay = next_delay(err)
            if episodic and isinstance(err, DeviceGone):
                # an idle episodic cuff does not advertise: only silence is a loss
                quiet = _mono() - s.last_rx
                if quiet > s.silence_s:
                    s.set_link(False, f"silent: no reading for {quiet:.0f} s ({err})")
                if s.link_up:
                    # Up and idle between measurements: its normal state, not a failure.
                    # Each connection clears `warned`, so the WARNING came after every
                    # measurement, dozens a day for months, advising to check a working
                    # cuff. Never seen since the start, or silent: warned as usual.
                    log.debug(
                        "%s/%s: idle (%s); retry in %.1f s", ctx.chair, ctx.device, err, delay
                    )
                else:
                    s.report(err, delay)
            else:
                s.set_link(False, str(err), type(err).__name__)
                s.report(err, delay)
            await asyncio.sleep(delay)
            continue
        if not s.gave_nothing:
            attempts.clear()
        if tap is not None:
            tap.disconnected(reason)
        episodic = Q_EPISODIC in s.quirks
        episodic_idle = (
            episodic and reason.startswith("disconnected") and s.readings_this_connection > 0
        )
        if episodic_idle:
            log.info("%s/%s: cuff went idle after its readings", ctx.chair, ctx.device)
        else:
            s.set_link(False, reason)
        # after a connection that gave nothing, the next waits longer each time
        delay = next_delay(Transient(reason))
        await asyncio.sleep(delay)
