"""Single-event appends under callgrind, for instruction counts per append (steady on a
noisy machine, unlike times): the numbers in docs/python.md, "Single-event appends".

    valgrind --tool=callgrind python ffi/python/bench/profile_append.py WORKLOAD N
    valgrind --tool=callgrind python ffi/python/bench/profile_append.py WORKLOAD 2N

Per append: (the 2N run's total - the N run's total) / N, which cancels the start-up,
the store's open and close and the warm-up. Each run opens a fresh store in a temporary
directory, appends 1 000 events to create the streams, then N more, one per call, at
`Durability.BUFFERED` (so the binding's part is not hidden behind a sync). The events
are 100 bytes of data, type `BenchEvent`. It prints the wall time per append of the N
(ns: noisy; compare builds in alternating runs). WORKLOAD is one of:

    name-one       store.append("order-1", event)          one NewEvent, built once
    name-many      store.append(names[i % 1000], event)    1 000 streams in turn
    tuple-one      store.append("order-1", [("BenchEvent", data)])
    handle-one     store.append_to(handle, event)          (needs stream handles)
    handle-many    store.append_to(handles[i % 1000], event)
"""

import sys
import tempfile
import time

import annal
from annal import NewEvent

STREAMS = 1000
DATA = b"x" * 100
EVENT = NewEvent("BenchEvent", DATA)
NAMES = [f"order-{i}" for i in range(STREAMS)]
BUFFERED = annal.Durability.BUFFERED


def name_one(store: annal.EventStore, count: int) -> None:
    append = store.append
    for _ in range(count):
        append("order-1", EVENT, durability=BUFFERED)


def name_many(store: annal.EventStore, count: int) -> None:
    append = store.append
    for i in range(count):
        append(NAMES[i % STREAMS], EVENT, durability=BUFFERED)


def tuple_one(store: annal.EventStore, count: int) -> None:
    append = store.append
    for _ in range(count):
        append("order-1", [("BenchEvent", DATA)], durability=BUFFERED)


def handle_one(store: annal.EventStore, count: int) -> None:
    handle = store.stream_handle("order-1")
    append_to = store.append_to
    for _ in range(count):
        append_to(handle, EVENT, durability=BUFFERED)


def handle_many(store: annal.EventStore, count: int) -> None:
    handles = [store.stream_handle(name) for name in NAMES]
    append_to = store.append_to
    for i in range(count):
        append_to(handles[i % STREAMS], EVENT, durability=BUFFERED)


WORKLOADS = {
    "name-one": name_one,
    "name-many": name_many,
    "tuple-one": tuple_one,
    "handle-one": handle_one,
    "handle-many": handle_many,
}


def main() -> None:
    body, count = WORKLOADS[sys.argv[1]], int(sys.argv[2])
    with tempfile.TemporaryDirectory() as path:
        with annal.EventStore.open(path, segment_bytes=64 << 20) as store:
            name_many(store, STREAMS)
            start = time.perf_counter_ns()
            body(store, count)
            elapsed_ns = time.perf_counter_ns() - start
    print(f"{elapsed_ns / count:.0f}")


if __name__ == "__main__":
    main()
