"""The nurses' station (`monitord station`, docs/station.md): a web wallboard fed by MQTT.

- `model.py`: the live state of every chair, a pure model fed by MQTT messages
- `auth.py`: the nurses file (hashed PINs), login sessions, CSRF, login rate limit
- `bridge.py`: the station's broker connection (status + Last Will, commands, receipts)
- `server.py`: the aiohttp app (page, static assets, Server-Sent Events, commands)
- `answers.py`: the headers of every answer, a refusal's JSON, a POST's JSON body read
- `forwarder.py`: optional phone escalation of unacknowledged high alerts (webhook)
"""
