"""Durable consumers of the event store: the exactly-once append_and_commit, filters, resume, bad input."""

import pytest

import annal
from annal import NewEvent


def _orders(store):
    store.append("order-1", [("OrderPlaced", b"10")])
    store.append("customer-1", [("Registered", b"")])
    store.append("order-2", [("OrderPlaced", b"20")])


def test_exactly_once_reaction_and_retry(store):
    """append_and_commit writes the reaction and the checkpoint together; a retry writes nothing twice."""
    _orders(store)
    billing = store.create_consumer("billing")
    assert billing.name == "billing" and billing.checkpoint == 0
    sub = billing.subscribe(category="order", visibility=annal.Visibility.WRITTEN)
    event = sub.next(timeout=1)
    assert event.stream == "order-1"
    invoice = NewEvent("InvoiceIssued", bytes(event.data), id=b"invoice-order-1!")
    step = [("invoice-1", [invoice], annal.NO_STREAM)]
    [result] = billing.append_and_commit(step, sub.position)
    assert (result.first_revision, result.first_position) == (0, 3)
    assert billing.checkpoint == 1
    [retry] = billing.append_and_commit(step, sub.position)
    assert retry.first_position == 3 and store.next_position == 4
    with pytest.raises(annal.WrongExpectedRevision):
        billing.append_and_commit([("invoice-1", [("InvoiceIssued", b"x")], annal.NO_STREAM)], 3)
    assert billing.checkpoint == 1 and store.next_position == 4
    assert sub.next(timeout=1).stream == "order-2"
    billing.commit(sub.position)
    with pytest.raises(annal.CheckpointRegression):
        billing.commit(1)
    sub.close()


def test_list_delete_and_resume_after_reopen(tmp_path):
    """Store consumers are listed, deleted, and resume at their checkpoint after a reopen."""
    path = tmp_path / "store"
    with annal.EventStore.open(path) as store:
        _orders(store)
        store.create_consumer("billing").commit(2)
        store.create_consumer("audit", annal.END)
        with pytest.raises(annal.ConsumerExists):
            store.create_consumer("audit")
        assert [(c.name, c.checkpoint) for c in store.consumers()] == [("audit", 3), ("billing", 2)]
        store.delete_consumer("audit")
        with pytest.raises(annal.UnknownConsumer):
            store.consumer("audit")
    with annal.EventStore.open(path) as store:
        billing = store.consumer("billing")
        assert billing.checkpoint == 2
        sub = billing.subscribe()
        assert sub.try_next().stream == "order-2"
        assert sub.try_next() is None
    with pytest.raises(annal.Closed):
        billing.checkpoint
    with pytest.raises(annal.Closed):
        billing.commit(3)


def test_bad_input(store):
    """Bad names, positions, filters and appends raise clear errors and write nothing."""
    _orders(store)
    with pytest.raises(annal.InvalidConsumerName):
        store.create_consumer("no spaces")
    with pytest.raises(TypeError):
        store.create_consumer(b"bytes")
    with pytest.raises(ValueError):
        store.create_consumer("c", -1)
    consumer = store.create_consumer("c")
    with pytest.raises(ValueError):
        consumer.subscribe(category="order", event_type="OrderPlaced")
    with pytest.raises(ValueError):
        consumer.commit(-1)
    with pytest.raises(TypeError):
        consumer.commit("1")
    with pytest.raises(annal.PositionOutOfRange):
        consumer.commit(1000)
    with pytest.raises(ValueError):
        consumer.append_and_commit([("order-1",)], 1)
    with pytest.raises(TypeError):
        consumer.append_and_commit(["order-1"], 1)
    with pytest.raises(ValueError):
        consumer.append_and_commit([("order-1", [("T", b"")], annal.ANY, 4)], 1)
    with pytest.raises(TypeError):
        consumer.append_and_commit(5, 1)
    with pytest.raises(annal.InvalidArgument):
        consumer.append_and_commit([("x" * 1000, [("T", b"")])], 1)
    assert store.next_position == 3 and consumer.checkpoint == 0
    store.delete_consumer("c")
    with pytest.raises(annal.UnknownConsumer):
        consumer.checkpoint
