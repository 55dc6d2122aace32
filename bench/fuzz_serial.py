"""Long fuzz run of the serial framers/decoders: `python bench/fuzz_serial.py [EXAMPLES]`.
Same properties as tests/serial/test_serial_fuzz.py, with many more examples."""

from __future__ import annotations

import sys
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "serial"))
import serial_fuzz_props as P


def main(n: int) -> None:
    s = settings(max_examples=n, deadline=None)
    runs = [
        given(st.lists(P.user_data, max_size=8), st.lists(P.noise, min_size=9, max_size=9), P.cuts)(
            P.ivue_stream_recovers
        ),
        given(st.binary(max_size=4000), P.cuts)(P.ivue_arbitrary_bytes),
        given(
            st.lists(st.tuples(st.integers(0, 511), st.integers(0, 100)), max_size=8),
            st.lists(P.noise, min_size=8, max_size=8),
            P.cuts,
        )(P.nonin_stream_recovers),
        given(st.binary(max_size=4000), P.cuts)(P.nonin_arbitrary_bytes),
        given(st.binary(max_size=4000), P.cuts)(P.masimo_arbitrary_bytes),
    ]
    for run in runs:
        s(run)()
        print(f"ok: {run.__name__} x{n}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000)
