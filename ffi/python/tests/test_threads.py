"""Concurrency: the GIL is released while appending and waiting, so threads append and
subscribe in parallel, and Ctrl-C interrupts a waiting subscription."""

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import annal
from annal import NewEvent


def test_threads_append_and_subscribe_at_once(store):
    """Four appender threads and two subscriber threads run together; every event arrives once, in order."""
    appenders, per_thread = 4, 50
    total = appenders * per_thread
    received = [[], []]
    errors = []

    def subscriber(out):
        try:
            sub = store.subscribe()
            while len(out) < total:
                event = sub.next(timeout=10)
                assert event is not None, "subscription stalled"
                out.append(event.position)
        except Exception as e:  # noqa: BLE001 - reported by the main thread
            errors.append(e)

    def appender(n):
        try:
            for i in range(per_thread):
                store.append(f"s-{n}", [NewEvent("E", str(i).encode())],
                             expected=i - 1 if i else annal.NO_STREAM)
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=subscriber, args=(out,)) for out in received]
    threads += [threading.Thread(target=appender, args=(n,)) for n in range(appenders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert received[0] == received[1] == list(range(total))
    for n in range(appenders):
        assert [int(bytes(e.data)) for e in store.read_stream(f"s-{n}")] == list(range(per_thread))


def test_waiting_subscription_does_not_hold_the_gil(store):
    """A thread blocked in sub.next() lets the main thread append, and receives the event at once."""
    sub = store.subscribe(annal.END)
    got = []
    started = threading.Event()

    def wait():
        started.set()
        got.append(sub.next(timeout=30))

    t = threading.Thread(target=wait)
    t.start()
    started.wait()
    time.sleep(0.2)
    begin = time.monotonic()
    store.append("s-1", [NewEvent("Live")])
    t.join(10)
    assert time.monotonic() - begin < 5
    assert got[0].event_type == "Live"


def test_iterating_subscription_in_a_thread_while_main_appends(tmp_path):
    """`for event in sub` in a thread sees every event the main thread appends, and ends on close."""
    store = annal.EventStore.open(tmp_path / "s")
    sub = store.subscribe()
    seen = []
    t = threading.Thread(target=lambda: seen.extend(e.revision for e in sub))
    t.start()
    for i in range(100):
        store.append("s-1", [NewEvent("E")], durability=annal.Durability.SYNCED)
    deadline = time.monotonic() + 10
    while len(seen) < 100 and time.monotonic() < deadline:
        time.sleep(0.01)
    store.close()
    t.join(10)
    assert not t.is_alive()
    assert seen == list(range(100))


def test_log_appends_from_threads_share_positions(log):
    """Durable appends from several threads on the raw log get distinct gapless positions."""
    positions = []
    lock = threading.Lock()

    def append():
        for _ in range(25):
            p = log.append(b"x").first
            with lock:
                positions.append(p)

    threads = [threading.Thread(target=append) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(positions) == list(range(100))


def test_ctrl_c_interrupts_a_waiting_iteration(tmp_path):
    """SIGINT during `for event in sub` raises KeyboardInterrupt within a second."""
    script = textwrap.dedent(f"""
        import faulthandler, signal, sys, annal
        # Ctrl-C raises KeyboardInterrupt even where this test was started with SIGINT
        # ignored (a job a non-interactive shell ran in the background), which Python
        # would otherwise inherit; SIGUSR1 dumps every thread's stack, for a child that
        # does not exit.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        faulthandler.register(signal.SIGUSR1, all_threads=True)
        store = annal.EventStore.open({str(tmp_path / 's')!r})
        sub = store.subscribe()
        print("waiting", flush=True)
        try:
            for event in sub:
                pass
        except KeyboardInterrupt:
            print("interrupted", flush=True)
            sys.exit(3)
    """)
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout.readline().strip() == "waiting"
        time.sleep(0.3)
        begin = time.monotonic()
        os.kill(proc.pid, signal.SIGINT)
        try:
            code = proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGUSR1)
            time.sleep(1)
            proc.kill()
            _, stacks = proc.communicate()
            raise AssertionError(f"no exit 10 s after SIGINT; the child's stacks:\n{stacks}")
        assert code == 3, proc.stderr.read()
        assert time.monotonic() - begin < 2
        assert proc.stdout.read().strip() == "interrupted"
    finally:
        proc.kill()
