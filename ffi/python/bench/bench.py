"""Benchmarks of the annal Python package, side by side with the engine's Rust API and
with Python's own sqlite3, in one run; prints a markdown table of medians and ratios.

    python ffi/python/bench/bench.py [--rounds 5] [--quick] [--json FILE]

Workloads (each round in fresh directories under a temporary directory):

- durable: one event (100 bytes) per append, acknowledged after fdatasync (SYNCED),
  one thread; the Rust API does the same (ffi/python/bench/rust, built on demand).
- batch: appends of 1000 events built in the timed loop, WRITTEN; Rust likewise. Python
  builds NewEvent objects, and in a second row (event_type, data) tuples.
- read: one stream of 20 000 events read start to end, the median of 9 passes (one
  pass takes milliseconds); Rust likewise.
- threads8: 8 threads, each appending durably to its own stream (one append per
  event), against sqlite3 (WAL, synchronous=FULL, one transaction per append with the
  revision check) with 8 threads, and against annal with one thread.
- bulk: 1000 streams x 100 events loaded (annal: one append per stream, the last one
  SYNCED; sqlite3: executemany in one transaction, then commit).
- random_reads: 1000 whole streams read in random order from the bulk-loaded data
  (sqlite3: an indexed SELECT ... WHERE stream = ? ORDER BY revision); next to them,
  what bounds the Python side per event: a bare call into the package (a C slot),
  making and dropping one PyO3 object, and the same reads without touching `data`.

Reference rows show what bounds two targets: the Rust API's own 8-thread scaling on
this disk, and the Rust API's random stream reads against the same sqlite3 baseline.
"""

import argparse
import json
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import annal
from annal import NewEvent

DATA = b"x" * 100
BATCH_EVENTS = 1000
READ_PASSES = 9  # the stream read's passes per round (the median is kept), as in rust/
HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]


def rust_binary() -> Path:
    """Builds (once; cargo skips it when up to date) and returns the Rust bench binary."""
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target" / "py"))
    subprocess.run(
        ["cargo", "build", "--release", "--quiet", "--manifest-path", str(HERE / "rust" / "Cargo.toml")],
        check=True, env={**os.environ, "CARGO_TARGET_DIR": str(target)},
    )
    return target / "release" / "annal-python-bench"


def rust(binary: Path, workload: str, events: int, tmp: Path) -> float:
    out = subprocess.run([str(binary), workload, str(tmp / f"rust-{workload}"), str(events)],
                         check=True, capture_output=True, text=True)
    return float(out.stdout.strip())


# ---- annal, Python -------------------------------------------------------------------

def py_durable(tmp: Path, events: int) -> float:
    with annal.EventStore.open(tmp / "py-durable") as store:
        start = time.perf_counter()
        for _ in range(events):
            store.append("bench-1", [NewEvent("BenchEvent", DATA)])
        return events / (time.perf_counter() - start)


def py_batch(tmp: Path, events: int) -> float:
    written = annal.Durability.WRITTEN
    with annal.EventStore.open(tmp / "py-batch") as store:
        start = time.perf_counter()
        for _ in range(events // BATCH_EVENTS):
            store.append("bench-1", [NewEvent("BenchEvent", DATA) for _ in range(BATCH_EVENTS)],
                         durability=written)
        return events / (time.perf_counter() - start)


def py_batch_tuples(tmp: Path, events: int) -> float:
    written = annal.Durability.WRITTEN
    with annal.EventStore.open(tmp / "py-batch-tuples") as store:
        start = time.perf_counter()
        for _ in range(events // BATCH_EVENTS):
            store.append("bench-1", [("BenchEvent", DATA) for _ in range(BATCH_EVENTS)],
                         durability=written)
        return events / (time.perf_counter() - start)


def py_read(tmp: Path, events: int) -> float:
    written = annal.Durability.WRITTEN
    with annal.EventStore.open(tmp / "py-read") as store:
        batch = [NewEvent("BenchEvent", DATA) for _ in range(BATCH_EVENTS)]
        for _ in range(events // BATCH_EVENTS):
            store.append("bench-1", batch, durability=written)
        rates = []
        for _ in range(READ_PASSES):
            start = time.perf_counter()
            seen = checksum = 0
            for event in store.read_stream("bench-1"):
                checksum += event.revision + len(event.data)
                seen += 1
            rates.append(seen / (time.perf_counter() - start))
            assert seen == events
        return statistics.median(rates)


def in_threads(threads: int, work) -> float:
    """Runs work(i) in `threads` threads; returns the wall time."""
    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    start = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return time.perf_counter() - start


def annal_threads(tmp: Path, name: str, threads: int, per_thread: int) -> float:
    with annal.EventStore.open(tmp / name) as store:
        def work(i):
            for _ in range(per_thread):
                store.append(f"bench-{i}", [NewEvent("BenchEvent", DATA)])
        return threads * per_thread / in_threads(threads, work)


# ---- sqlite3 -------------------------------------------------------------------------

def sqlite_connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=60, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    return conn


def sqlite_create(path: Path) -> None:
    conn = sqlite_connect(path)
    conn.execute("CREATE TABLE events (stream TEXT NOT NULL, revision INTEGER NOT NULL, "
                 "event_type TEXT NOT NULL, data BLOB NOT NULL, PRIMARY KEY (stream, revision))")
    conn.close()


def sqlite_threads(tmp: Path, threads: int, per_thread: int) -> float:
    path = tmp / "threads.sqlite"
    sqlite_create(path)

    def work(i):
        conn = sqlite_connect(path)
        stream = f"bench-{i}"
        for _ in range(per_thread):
            conn.execute("BEGIN IMMEDIATE")
            (last,) = conn.execute("SELECT max(revision) FROM events WHERE stream = ?",
                                   (stream,)).fetchone()
            conn.execute("INSERT INTO events VALUES (?, ?, ?, ?)",
                         (stream, 0 if last is None else last + 1, "BenchEvent", DATA))
            conn.execute("COMMIT")
        conn.close()

    return threads * per_thread / in_threads(threads, work)


def bulk_rows(streams: int, per_stream: int):
    return [(f"bench-{s}", r, "BenchEvent", DATA) for s in range(streams) for r in range(per_stream)]


def sqlite_bulk(tmp: Path, streams: int, per_stream: int) -> tuple[float, Path]:
    path = tmp / "bulk.sqlite"
    sqlite_create(path)
    conn = sqlite_connect(path)
    start = time.perf_counter()
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO events VALUES (?, ?, ?, ?)", bulk_rows(streams, per_stream))
    conn.execute("COMMIT")
    rate = streams * per_stream / (time.perf_counter() - start)
    conn.close()
    return rate, path


def annal_bulk(tmp: Path, streams: int, per_stream: int) -> tuple[float, Path]:
    path = tmp / "bulk-annal"
    written, synced = annal.Durability.WRITTEN, annal.Durability.SYNCED
    with annal.EventStore.open(path) as store:
        start = time.perf_counter()
        for s in range(streams):
            store.append(f"bench-{s}", [NewEvent("BenchEvent", DATA) for _ in range(per_stream)],
                         expected=annal.NO_STREAM,
                         durability=synced if s == streams - 1 else written)
        rate = streams * per_stream / (time.perf_counter() - start)
    return rate, path


def sqlite_random_reads(path: Path, names: list[str]) -> float:
    conn = sqlite_connect(path)
    start = time.perf_counter()
    seen = 0
    for name in names:
        for revision, event_type, data in conn.execute(
                "SELECT revision, event_type, data FROM events WHERE stream = ? ORDER BY revision",
                (name,)):
            seen += 1
    elapsed = time.perf_counter() - start
    conn.close()
    return len(names) / elapsed


def annal_random_reads(path: Path, names: list[str]) -> float:
    with annal.EventStore.open(path) as store:
        start = time.perf_counter()
        seen = 0
        for name in names:
            for event in store.read_stream(name):
                event.data
                seen += 1
        return len(names) / (time.perf_counter() - start)


def per_event_costs(path: Path, names: list[str]) -> dict[str, float]:
    """What bounds the Python side of an event read, in ns, measured next to it: a bare
    call into the package (len of a Payload, a C slot), making and dropping one PyO3
    object (a NewEvent with no data, through its constructor; the read path's objects
    are made with the C API instead), and a read of the same streams that never touches
    `data` (one object per event instead of two)."""
    calls = 200_000
    payload = annal.NewEvent("T", b"x").data
    start = time.perf_counter()
    for _ in range(calls):
        len(payload)
    bare_call = (time.perf_counter() - start) / calls * 1e9
    start = time.perf_counter()
    for _ in range(calls):
        NewEvent("T")
    make_object = (time.perf_counter() - start) / calls * 1e9
    with annal.EventStore.open(path) as store:
        seen = 0
        start = time.perf_counter()
        for name in names:
            for _event in store.read_stream(name):
                seen += 1
        no_data = (time.perf_counter() - start) / seen * 1e9
    return {"bare_call": bare_call, "make_object": make_object, "read_no_data": no_data}


# ---- driver --------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="small sizes, one round")
    parser.add_argument("--json", type=Path, help="also write the medians here")
    args = parser.parse_args()
    rounds = 1 if args.quick else args.rounds
    scale = 10 if args.quick else 1
    durable_events = 2000 // scale
    batch_events = 200_000 // scale
    read_events = 20_000 // scale
    per_thread = 200 // scale
    streams, per_stream = 1000 // scale, 100

    binary = rust_binary()
    samples: dict[str, list[float]] = {}

    def record(name, value):
        samples.setdefault(name, []).append(value)

    for round_ in range(rounds):
        with tempfile.TemporaryDirectory(prefix="annal-bench-", dir=os.environ.get("ANNAL_BENCH_DIR")) as t:
            tmp = Path(t)
            # Alternate which side goes first, so a drift of the disk's speed within a
            # round favours neither.
            first_rust = round_ % 2 == 0
            pairs = [
                ("durable", lambda: rust(binary, "durable", durable_events, tmp),
                 lambda: py_durable(tmp, durable_events)),
                ("batch", lambda: rust(binary, "batch", batch_events, tmp),
                 lambda: py_batch(tmp, batch_events)),
                ("read", lambda: rust(binary, "read", read_events, tmp),
                 lambda: py_read(tmp, read_events)),
            ]
            for name, rust_side, python_side in pairs:
                for side in (("rust", rust_side), ("python", python_side))[:: 1 if first_rust else -1]:
                    record(f"{name} {side[0]}", side[1]())
            record("batch_tuples python", py_batch_tuples(tmp, batch_events))
            record("threads8 sqlite3", sqlite_threads(tmp, 8, per_thread))
            record("threads8 annal", annal_threads(tmp, "threads8", 8, per_thread))
            record("threads1 annal", annal_threads(tmp, "threads1", 1, per_thread * 8))
            record("threads8 rust", rust(binary, "threads8", per_thread * 8, tmp))
            record("threads1 rust", rust(binary, "threads1", per_thread * 8, tmp))
            sqlite_rate, sqlite_path = sqlite_bulk(tmp, streams, per_stream)
            annal_rate, annal_path = annal_bulk(tmp, streams, per_stream)
            record("bulk sqlite3", sqlite_rate)
            record("bulk annal", annal_rate)
            names = [f"bench-{random.randrange(streams)}" for _ in range(1000)]
            record("random_reads sqlite3", sqlite_random_reads(sqlite_path, names))
            record("random_reads annal", annal_random_reads(annal_path, names))
            record("random_reads rust", rust(binary, "random_reads", streams, tmp))
            for name, ns in per_event_costs(annal_path, names).items():
                record(f"ns {name}", ns)
        print(f"round {round_ + 1}/{rounds} done", file=sys.stderr)

    medians = {name: statistics.median(values) for name, values in samples.items()}
    comparisons = [
        ("durable appends, 1 thread (events/s)", "durable python", "durable rust", 0.9),
        ("batch appends, 1000 per call (events/s)", "batch python", "batch rust", 0.5),
        ("batch appends, (type, data) tuples (events/s)", "batch_tuples python", "batch rust", 0.5),
        ("stream read (events/s)", "read python", "read rust", 0.5),
        ("8 threads durable vs sqlite3 8 threads (events/s)", "threads8 annal", "threads8 sqlite3", 3.0),
        ("8 threads durable vs annal 1 thread (events/s)", "threads8 annal", "threads1 annal", 3.0),
        ("bulk load vs sqlite3 executemany (events/s)", "bulk annal", "bulk sqlite3", 2.0),
        ("1000 random streams vs sqlite3 select (streams/s)", "random_reads annal", "random_reads sqlite3", 3.0),
    ]
    references = [
        ("reference: Rust API, 8 threads vs 1 thread durable (events/s)", "threads8 rust", "threads1 rust"),
        ("reference: Rust API vs sqlite3 from Python, 1000 random streams (streams/s)",
         "random_reads rust", "random_reads sqlite3"),
        ("reference: annal Python vs Rust API, 1000 random streams (streams/s)",
         "random_reads annal", "random_reads rust"),
    ]
    def ratio(ours, theirs):
        """The median over rounds of each round's ratio: both sides of a ratio ran next
        to each other, so a slow phase of the shared disk hits both."""
        return statistics.median(a / b for a, b in zip(samples[ours], samples[theirs]))

    print(f"\n{rounds} rounds: medians, min..max in brackets; ratio = median of the per-round ratios\n")
    print("| workload | annal (Python) | baseline | ratio | target |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for title, ours, theirs, target in comparisons:
        a, b, r = medians[ours], medians[theirs], ratio(ours, theirs)
        spread = lambda n: f"{min(samples[n]):,.0f}..{max(samples[n]):,.0f}"  # noqa: E731
        print(f"| {title} | {a:,.0f} [{spread(ours)}] | {theirs.split()[-1]}: {b:,.0f} "
              f"[{spread(theirs)}] | {r:.2f}x | {target}x{'' if r >= target else ' missed'} |")
    for title, ours, theirs in references:
        a, b, r = medians[ours], medians[theirs], ratio(ours, theirs)
        print(f"| {title} | {ours.split()[-1]}: {a:,.0f} | {theirs.split()[-1]}: {b:,.0f} | {r:.2f}x | — |")
    ns_read = lambda rate: 1e9 / (rate * per_stream)  # noqa: E731
    print(f"\nPer event of the random reads (ns, medians): annal Python "
          f"{ns_read(medians['random_reads annal']):.0f}, Rust API {ns_read(medians['random_reads rust']):.0f}, "
          f"sqlite3 {ns_read(medians['random_reads sqlite3']):.0f}; 3x sqlite3 allows "
          f"{ns_read(3 * medians['random_reads sqlite3']):.0f}. Python without touching data "
          f"{medians['ns read_no_data']:.0f}; a bare call into the package {medians['ns bare_call']:.0f}; "
          f"making and dropping one PyO3 object {medians['ns make_object']:.0f}.")
    if args.json:
        args.json.write_text(json.dumps({"rounds": rounds, "samples": samples, "medians": medians}, indent=1))


if __name__ == "__main__":
    main()
