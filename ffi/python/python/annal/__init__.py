"""Annal: an embeddable event store (durable streams, subscriptions, consumers).

    import annal

    with annal.EventStore.open("orders") as store:
        store.append("order-1", [annal.NewEvent("OrderCreated", b"{}")],
                     expected=annal.NO_STREAM)
        for event in store.read_stream("order-1"):
            print(event.revision, bytes(event.data))

Every blocking call releases the GIL. Errors are ``annal.Error`` subclasses with the
engine's stable numeric ``.code``.
"""

from annal._annal import *  # noqa: F403
