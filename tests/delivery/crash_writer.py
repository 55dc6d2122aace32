"""Child process for the kill -9 test: appends + commits forever, printing each committed
batch's last id only after `commit()` returned (so the parent knows what must survive)."""

from __future__ import annotations

import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from helpers import alert, reading

from monitord.config import StorageConfig
from monitord.outbox import Outbox


def main() -> None:
    path = Path(sys.argv[1])
    rnd = random.Random(int(sys.argv[2]))
    ob = Outbox(path, StorageConfig(path=path, max_mb=64))
    i = ob.count()
    print("ready", flush=True)
    while True:
        n = rnd.randint(1, 40)
        ob.add_readings([reading(i + k) for k in range(n)], {"chair-1": "s-1"})
        ids = ob.add_alert_events([alert(i)])
        i += n
        ob.commit()
        print(ids[-1], flush=True)
        if rnd.random() < 0.2:  # sinks mark rows as they go, concurrently with appends
            rows = ob.fetch("influx", 50)
            ob.mark_delivered("influx", [r.id for r in rows])
            print(f"delivered {rows[-1].id if rows else 0}", flush=True)
        if rnd.random() < 0.02:
            ob.prune()


if __name__ == "__main__":
    main()
