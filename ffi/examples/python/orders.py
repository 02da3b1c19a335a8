"""Annal from Python: append to a stream, read it back, and follow a durable consumer
of the store that reacts exactly once (its invoice and its checkpoint in one record) and
resumes where it left off after a restart.

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


def bill_new_orders(store: annal.EventStore) -> int:
    """Invoices every order the `billing` consumer has not handled yet: each invoice is
    appended together with the checkpoint past its order, in one record (exactly once:
    after a crash both are there or neither, and a retry writes nothing twice)."""
    billing = store.consumer("billing")
    subscription = billing.subscribe(category="order")
    handled = 0
    while (event := subscription.next(timeout=0.1)) is not None:
        order = json.loads(bytes(event.data))
        invoice = NewEvent("InvoiceIssued", json.dumps({"total": order["total"]}).encode(),
                           id=f"invoice-{order['order']}".encode().ljust(16, b"."))
        billing.append_and_commit([(f"invoice-{order['order']}", [invoice], annal.NO_STREAM)],
                                  subscription.position)
        handled += 1
    subscription.close()
    return handled


def main(directory: Path) -> None:
    path = directory / "orders"
    with annal.EventStore.open(path) as store:
        place_orders(store, 1, 3)
        for event in store.read_stream("order-1"):
            print(f"order-1 r{event.revision} @{event.position} {event.event_type} "
                  f"{bytes(event.data).decode()}")
        if "billing" not in [c.name for c in store.consumers()]:
            store.create_consumer("billing", annal.BEGINNING)
        print(f"billing invoiced {bill_new_orders(store)} orders")

    # "Restart": more orders arrive while billing is down.
    with annal.EventStore.open(path) as store:
        place_orders(store, 4, 2)

    with annal.EventStore.open(path) as store:
        print(f"billing resumes at position {store.consumer('billing').checkpoint}")
        print(f"billing invoiced {bill_new_orders(store)} new orders")
        print(f"invoice-5: {bytes(store.read_stream_last('invoice-5', 1)[0].data).decode()}")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(Path(sys.argv[1]))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            main(Path(tmp))
