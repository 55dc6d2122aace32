"""config/homeassistant/monitord-alerts.yaml run as Home Assistant runs an automation, as
close to it as this machine allows (Home Assistant itself is not installed).

What is real: the YAML file as shipped (PyYAML; Home Assistant's loader reads the same
plain YAML), Jinja2 (Home Assistant's templates are Jinja2 in a sandboxed environment),
the MQTT messages (received from the real broker as the automation's account, and the
ACK published back to it), the daemon that answers.

What is Home Assistant's and re-stated here from its source (home-assistant/core):
- the filters it adds that the file uses: `to_json` (orjson, compact, non-ASCII kept:
  helpers/template/extensions/serialization.py) and the hashes `md5`, `sha1`, `sha256`,
  `sha512` (hexdigest of the UTF-8 text: extensions/crypto.py);
- an MQTT trigger's variables: `trigger.topic`, `trigger.payload` (the text) and
  `trigger.payload_json` (the payload parsed as JSON, when it is);
- a service call's `data` is rendered as templates and each result parsed into a
  Python literal where it is one (a number, a list, a dict; text stays the rendered
  text); a parsed dict handed to a string field (`mqtt.publish` `payload`: cv.string)
  becomes the rendered text again (ResultWrapper.render_result);
- a template condition is true when its result reads as true;
- `choose`: the first option whose conditions are all true runs its `sequence`, else
  `default` (helpers/script.py, _async_choose_step);
- an automation's `mode: queued` with `max` (default 10): a trigger whose conditions hold
  (checked before the run is queued: components/automation, async_trigger) starts a run;
  its runs go one at a time, in the order triggered; a trigger while `max` runs are
  running or waiting is dropped, only logged ("Maximum number of runs exceeded":
  helpers/script.py, Script.async_run). Two automations are two scripts, each with its
  own runs, run at once.

What the phone does with the notification's `data` is the Companion app's push relay
(home-assistant/mobile-apps-fcm-push, functions/legacy.js): on iOS `data.tag` becomes
the APNs `apns-collapse-id` header, which Apple limits to 64 bytes (a longer one is
refused, the notification never delivered); `actions[].action` comes back as the
`mobile_app_notification_action` event's `action` when the button is pressed.
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import jinja2
import jinja2.nodes
import jinja2.sandbox
import yaml


def _to_json(value: Any, ensure_ascii: bool = False, pretty_print: bool = False) -> str:
    if pretty_print:
        return json.dumps(value, ensure_ascii=ensure_ascii, indent=2)
    return json.dumps(value, ensure_ascii=ensure_ascii, separators=(",", ":"))


def _hasher(name: str) -> Any:
    def digest(value: str) -> str:
        return hashlib.new(name, str(value).encode()).hexdigest()

    return digest


# Home Assistant's own filters re-stated here, with the release that added each (its
# pull request into home-assistant/core and that release's date): a file using one needs
# that release. On an older one Jinja2 fails the template where it meets the filter (at
# run time when the filter is in a branch of an `if`): the service call is not made.
HA_FILTERS: dict[str, tuple[str, str]] = {
    # core#27909, merged 2019-10; docs home-assistant.io#10952 for the next release
    "to_json": ("0.101", "home-assistant/core#27909"),
    # core#140192, merged 2025-03-09, after 2025.3 (2025-03-05); docs
    # home-assistant.io#37884 on `next`, released with 2025.4
    **{h: ("2025.4", "home-assistant/core#140192") for h in ("md5", "sha1", "sha256", "sha512")},
}
ENV = jinja2.sandbox.ImmutableSandboxedEnvironment(undefined=jinja2.Undefined)
ENV.filters["to_json"] = _to_json
for _name in ("md5", "sha1", "sha256", "sha512"):
    ENV.filters[_name] = ENV.globals[_name] = _hasher(_name)
_JINJA_FILTERS = set(jinja2.Environment().filters)


def ha_filters_used(text: str) -> set[str]:
    """The Home Assistant filters (not Jinja2's own) the templates of a file use."""
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)
        elif isinstance(value, str) and "{{" in value:
            for f in ENV.parse(value).find_all(jinja2.nodes.Filter):
                if f.name not in _JINJA_FILTERS:
                    assert f.name in HA_FILTERS, f"which release added filter {f.name!r}?"
                    found.add(f.name)

    walk(yaml.safe_load(text))
    return found


def release(version: str) -> tuple[int, ...]:
    return tuple(int(n) for n in version.split("."))


def ha_account(text: str) -> str:
    """The broker account the file's instructions name for Home Assistant."""
    found = re.search(r"`(station-[A-Za-z0-9_.-]+)`", text)
    assert found, "the file names no station account for Home Assistant"
    return found.group(1)


class Rendered(dict[str, Any]):
    """A dict a template rendered to, with the text it was parsed from."""

    render_result: str = ""


def render(template: Any, variables: dict[str, Any]) -> Any:
    """A service call's `data` as Home Assistant renders it: every string a template,
    its result parsed into a literal where it is one."""
    if isinstance(template, dict):
        return {k: render(v, variables) for k, v in template.items()}
    if isinstance(template, list):
        return [render(v, variables) for v in template]
    if not isinstance(template, str):
        return template
    text = ENV.from_string(template).render(**variables)
    try:
        value = ast.literal_eval(text)
    except (ValueError, TypeError, SyntaxError, MemoryError):
        return text
    if isinstance(value, str | complex):
        return text
    if isinstance(value, dict):
        wrapped = Rendered(value)
        wrapped.render_result = text
        return wrapped
    return value


def as_string(value: Any) -> str:
    """cv.string: a parsed dict or list gives back the text it was rendered as."""
    if isinstance(value, Rendered):
        return value.render_result
    assert not isinstance(value, list | dict), value
    return str(value)


def truthy(template: str, variables: dict[str, Any]) -> bool:
    text = ENV.from_string(template).render(**variables).strip().lower()
    return text in ("true", "1", "yes", "on", "enable")


class Automations:
    """The shipped automations, by id."""

    def __init__(self, path: Path) -> None:
        self.text = path.read_text()
        self.by_id: dict[str, dict[str, Any]] = {a["id"]: a for a in yaml.safe_load(self.text)}

    def mqtt_topic(self, automation: str) -> str:
        (trigger,) = self.by_id[automation]["trigger"]
        assert trigger["platform"] == "mqtt", trigger
        return str(trigger["topic"])

    def on_message(self, automation: str, topic: str, payload: bytes) -> dict[str, Any] | None:
        """The `data` of the service call the automation makes for one MQTT message, or
        None when its condition says no."""
        text = payload.decode()
        trig: dict[str, Any] = {"platform": "mqtt", "topic": topic, "payload": text}
        try:
            trig["payload_json"] = json.loads(text)
        except ValueError:
            pass
        return self._run(automation, {"trigger": trig})

    def on_action(
        self,
        automation: str,
        action: str,
        user_id: str | None = None,
        persons: dict[str, str | None] | None = None,
    ) -> dict[str, Any] | None:
        """The `data` of the service call for a notification's button pressed on the
        phone of Home Assistant user `user_id`; `persons`: the `person` entities, by
        name, each with the user it is linked to (or None).

        Home Assistant's, re-stated (home-assistant/core): mobile_app fires the app's
        event with the registration's context, `Context(user_id=<the user the app logged
        in as>)` (mobile_app/webhook.py `webhook_fire_event`, `registration_context` in
        mobile_app/helpers.py), so `trigger.event.context.user_id` is the phone's user;
        a person linked to a user has it as its `user_id` state attribute, absent when
        none is linked (person/__init__.py); `states.person` iterates the person states
        in entity id order, each with `name` (its friendly name) and `attributes`
        (helpers/template, TemplateState)."""
        (trigger,) = self.by_id[automation]["trigger"]
        assert trigger == {"platform": "event", "event_type": "mobile_app_notification_action"}
        event = {
            "event_type": trigger["event_type"],
            "data": {"action": action},
            "context": {"user_id": user_id, "id": "01J000000000000000000000", "parent_id": None},
        }
        people = [
            SimpleNamespace(
                entity_id=f"person.{name.lower().replace(' ', '_')}",
                name=name,
                state="home",
                attributes={"friendly_name": name} | ({"user_id": uid} if uid else {}),
            )
            for name, uid in (persons or {}).items()
        ]
        states = SimpleNamespace(person=sorted(people, key=lambda p: p.entity_id))
        variables = {"trigger": {"platform": "event", "event": event}, "states": states}
        return self._run(automation, variables)

    def service(self, automation: str) -> str:
        (step,) = self.by_id[automation]["action"]
        return str(step["service"])

    def _run(self, automation: str, variables: dict[str, Any]) -> dict[str, Any] | None:
        call = self.call(automation, variables)
        return None if call is None else call[1]

    def call(self, automation: str, variables: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
        """The service and the `data` of the service call the automation makes, or None
        when its conditions say no."""
        a = self.by_id[automation]
        if not _conditions(a.get("condition", []), variables):
            return None
        return _step(a["action"], variables)

    def mqtt_automations(self, topic: str) -> list[str]:
        """The automations an MQTT message on `topic` triggers, in the file's order."""
        return [
            a["id"]
            for a in self.by_id.values()
            if any(t.get("platform") == "mqtt" and topic_matches(t["topic"], topic)
                   for t in a["trigger"])
        ]  # fmt: skip


def _conditions(conditions: list[dict[str, Any]], variables: dict[str, Any]) -> bool:
    for cond in conditions:
        assert cond["condition"] == "template", cond
        if not truthy(cond["value_template"], variables):
            return False
    return True


def _step(steps: list[dict[str, Any]], variables: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The one service call of an action (a `service` step, or a `choose` of them)."""
    (step,) = steps
    if "choose" in step:
        for option in step["choose"]:
            if _conditions(option["conditions"], variables):
                return _step(option["sequence"], variables)
        return _step(step["default"], variables)
    data = render(step["data"], variables)
    assert isinstance(data, dict)
    return str(step["service"]), data


def topic_matches(pattern: str, topic: str) -> bool:
    """An MQTT subscription's `+`/`#` wildcards against a topic."""
    rx = "/".join("[^/]+" if p == "+" else ".*" if p == "#" else re.escape(p)
                  for p in pattern.split("/"))  # fmt: skip
    return re.fullmatch(rx, topic) is not None


@dataclass
class Phone:
    """What a phone shows: one notification per tag, replaced by one of the same tag,
    taken off by `clear_notification` of that tag (the Companion app)."""

    shown: dict[str, dict[str, Any]] = field(default_factory=dict)
    sent: list[dict[str, Any]] = field(default_factory=list)

    def receive(self, data: dict[str, Any]) -> None:
        tag = data["data"]["tag"]
        if data["message"] == "clear_notification":
            self.shown.pop(tag, None)
        else:
            self.sent.append(data)
            self.shown[tag] = data


@dataclass
class QueuedRuns:
    """Home Assistant's runs of the automations MQTT messages trigger (the module's
    docstring): `trigger` each message as it arrives, then `drain` when a burst has
    arrived faster than one run (a notify call to the push relay) takes. The scripts of
    different automations run at once: here each in turn makes one call, as runs of equal
    length do; any order between them is Home Assistant's to pick."""

    ha: Automations
    queues: dict[str, deque[tuple[str, dict[str, Any]]]] = field(default_factory=dict)
    dropped: list[tuple[str, str]] = field(default_factory=list)  # (automation, payload)

    def trigger(self, topic: str, payload: bytes) -> None:
        text = payload.decode()
        trig: dict[str, Any] = {"platform": "mqtt", "topic": topic, "payload": text}
        try:
            trig["payload_json"] = json.loads(text)
        except ValueError:
            pass
        for name in self.ha.mqtt_automations(topic):
            a = self.ha.by_id[name]
            assert a.get("mode") == "queued", f"{name}: mode {a.get('mode')!r}"
            call = self.ha.call(name, {"trigger": trig})
            if call is None:
                continue
            runs = self.queues.setdefault(name, deque())
            if len(runs) >= int(a.get("max", 10)):
                self.dropped.append((name, text))
            else:
                runs.append(call)

    def drain(self, phone: Phone) -> None:
        while any(self.queues.values()):
            for runs in self.queues.values():
                if runs:
                    service, data = runs.popleft()
                    assert service.startswith("notify."), service
                    phone.receive(data)
