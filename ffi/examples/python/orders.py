"""Annal from Python: append to a stream, read it back, and follow a durable consumer
that resumes where it left off after a restart.

    pip install ./ffi/python
    python ffi/examples/python/orders.py [DIRECTORY]

Without a directory it works in a fresh temporary one.
"""

import json
import sys
import tempfile
from pathlib import Path

import annal
from annal import NewEvent


def place_orders(store: annal.EventStore, first: int, count: int) -> None:
    """Appends `OrderCreated` to streams order-<n>, each expecting a new stream."""
    for n in range(first, first + count):
        body = json.dumps({"order": n, "total": 10 * n}).encode()
        store.append(f"order-{n}", [NewEvent("OrderCreated", body)], expected=annal.NO_STREAM)


def bill_new_orders(log: annal.Log) -> int:
    """Handles every event the `billing` consumer has not handled yet, then commits."""
    consumer = log.consumer("billing")
    subscription = consumer.subscribe()
    handled = 0
    while subscription.next(timeout=0.1) is not None:
        handled += 1
    # Everything before this position is handled: a restart resumes here.
    consumer.commit(subscription.position)
    subscription.close()
    return handled


def main(directory: Path) -> None:
    path = directory / "orders"
    with annal.EventStore.open(path) as store:
        place_orders(store, 1, 3)
        store.append("order-1", [NewEvent("OrderPaid", b"{}")], expected=0)
        for event in store.read_stream("order-1"):
            print(f"order-1 r{event.revision} @{event.position} {event.event_type} "
                  f"{bytes(event.data).decode()}")

    # Consumers live on the raw log under the store for now (one writer at a time: the
    # store is closed); they see the store's events as encoded records.
    with annal.Log.open(path) as log:
        if "billing" not in [c.name for c in log.consumers()]:
            log.create_consumer("billing", annal.BEGINNING)
        print(f"billing handled {bill_new_orders(log)} events")

    # "Restart": more orders arrive while billing is down.
    with annal.EventStore.open(path) as store:
        place_orders(store, 4, 2)

    with annal.Log.open(path) as log:
        checkpoint = log.consumer("billing").checkpoint
        print(f"billing resumes at position {checkpoint}")
        print(f"billing handled {bill_new_orders(log)} new events")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(Path(sys.argv[1]))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            main(Path(tmp))
