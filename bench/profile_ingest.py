"""cProfile of the daemon's ingest path (bench/ingest.py daemon_ingest, influxd v1).

python -m bench.profile_ingest [N]
"""

from __future__ import annotations

import asyncio
import cProfile
import io
import pstats
import sys

from bench import ingest
from bench.common import Servers, Workdir


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    with Workdir("prof-") as wd:
        servers = Servers(wd)
        servers.start()
        try:
            prof = cProfile.Profile()
            prof.enable()
            res = asyncio.run(ingest.daemon_ingest(servers, wd, "v1", n))
            prof.disable()
        finally:
            servers.stop()
    print(res)
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(22)
    print(out.getvalue())


if __name__ == "__main__":
    main()
