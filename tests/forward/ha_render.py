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
- a template condition is true when its result reads as true.

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
from pathlib import Path
from typing import Any

import jinja2
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


ENV = jinja2.sandbox.ImmutableSandboxedEnvironment(undefined=jinja2.Undefined)
ENV.filters["to_json"] = _to_json
for _name in ("md5", "sha1", "sha256", "sha512"):
    ENV.filters[_name] = ENV.globals[_name] = _hasher(_name)


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

    def on_action(self, automation: str, action: str) -> dict[str, Any] | None:
        """The `data` of the service call for a notification's button pressed."""
        (trigger,) = self.by_id[automation]["trigger"]
        assert trigger == {"platform": "event", "event_type": "mobile_app_notification_action"}
        event = {"event_type": trigger["event_type"], "data": {"action": action}}
        return self._run(automation, {"trigger": {"platform": "event", "event": event}})

    def service(self, automation: str) -> str:
        (step,) = self.by_id[automation]["action"]
        return str(step["service"])

    def _run(self, automation: str, variables: dict[str, Any]) -> dict[str, Any] | None:
        a = self.by_id[automation]
        for cond in a.get("condition", []):
            assert cond["condition"] == "template", cond
            if not truthy(cond["value_template"], variables):
                return None
        (step,) = a["action"]
        data = render(step["data"], variables)
        assert isinstance(data, dict)
        return data
