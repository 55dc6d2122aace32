"""Fuzz every BLE decoder with random payloads (default 100,000 per decoder).

    .venv/bin/python bench/fuzz_ble.py [--n 100000] [--seed 1]

Half the payloads are uniformly random bytes, half are flag-shaped (a flags byte plus a
tail of SFLOAT-ish words, many of them special values) so the field decoders are reached.
Exit 1 and the first failures printed if any decoder raises or returns a number outside
its sanity range.
"""

from __future__ import annotations

import argparse
import random
import sys
import time

from monitord.drivers.ble_fuzz_targets import SHAPES, TARGETS, check

SPECIALS = (0x07FF, 0x0800, 0x07FE, 0x0802, 0x0801)


def payload(rng: random.Random, name: str) -> bytes:
    if rng.random() < 0.5:
        return rng.randbytes(rng.randint(0, 40))
    n = rng.randint(0, SHAPES[name])
    words = [
        rng.choice(SPECIALS) if rng.random() < 0.2 else rng.getrandbits(16)
        for _ in range(n // 2 + 1)
    ]
    return bytes([rng.getrandbits(8)]) + b"".join(w.to_bytes(2, "little") for w in words)[:n]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=100_000, help="payloads per decoder")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    failures: list[str] = []
    total = 0
    t0 = time.perf_counter()
    for name in sorted(TARGETS):
        for _ in range(args.n):
            total += 1
            err = check(name, payload(rng, name))
            if err and len(failures) < 20:
                failures.append(err)
    dt = time.perf_counter() - t0
    print(
        f"{total} payloads over {len(TARGETS)} decoders in {dt:.1f} s "
        f"({total / dt:,.0f}/s), {len(failures)} failures"
    )
    for f in failures:
        print("FAIL", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
