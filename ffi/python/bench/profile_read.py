"""Reads under callgrind, for instruction counts per event (steady on a noisy machine,
unlike times): the numbers in docs/python.md, "Benchmarks".

    python ffi/python/bench/profile_read.py setup DIR          # once: the store to read
    valgrind --tool=callgrind python ffi/python/bench/profile_read.py open DIR
    valgrind --tool=callgrind python ffi/python/bench/profile_read.py read DIR
    valgrind --tool=callgrind python ffi/python/bench/profile_read.py random DIR

Per event: (read's total - open's total) / (20 000 x 11) for `read`, a 20 000-event
stream read 11 times with `checksum += event.revision + len(event.data)`;
(random's - open's) / 300 000 for `random`, 1 000 streams of 100 events picked at
random, read 3 times touching `event.data`. `open` opens the store and reads nothing.
"""

import random
import sys

import annal

EVENTS = 20_000
STREAMS = 1000


def main() -> None:
    mode, path = sys.argv[1], sys.argv[2]
    if mode == "setup":
        with annal.EventStore.open(path) as store:
            batch = [("BenchEvent", b"x" * 100)] * 1000
            for _ in range(EVENTS // 1000):
                store.append("bench-1", batch, durability=annal.Durability.WRITTEN)
            for s in range(STREAMS):
                store.append(f"r-{s}", [("BenchEvent", b"x" * 100)] * 100,
                             durability=annal.Durability.WRITTEN)
        return
    with annal.EventStore.open(path) as store:
        if mode == "read":
            checksum = 0
            for _ in range(11):
                for event in store.read_stream("bench-1"):
                    checksum += event.revision + len(event.data)
        elif mode == "random":
            rng = random.Random(7)
            names = [f"r-{rng.randrange(STREAMS)}" for _ in range(1000)]
            for _ in range(3):
                for name in names:
                    for event in store.read_stream(name):
                        event.data
        elif mode != "open":
            sys.exit(f"unknown mode {mode!r}: setup, open, read or random")


if __name__ == "__main__":
    main()
