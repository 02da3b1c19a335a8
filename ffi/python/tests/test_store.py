"""The event store's API: appends, expectations, reads, deletes, reopen."""

import time
import uuid

import pytest

import annal
from annal import NewEvent


def test_append_and_read_back(store):
    """An appended event reads back with its stream, revision, position, type, id, metadata and data."""
    event_id = uuid.uuid4()
    result = store.append(
        "order-1",
        [NewEvent("OrderCreated", b'{"total": 10}', id=event_id, metadata=b"m")],
        expected=annal.NO_STREAM,
    )
    assert (result.first_revision, result.last_revision) == (0, 0)
    assert (result.first_position, result.last_position) == (0, 0)
    [event] = list(store.read_stream("order-1"))
    assert event.stream == "order-1"
    assert event.revision == 0 and event.position == 0
    assert event.event_type == "OrderCreated"
    assert event.id == event_id.bytes
    assert event.metadata == b"m"
    assert event.data == b'{"total": 10}'
    assert bytes(event.data) == b'{"total": 10}'
    assert event.timestamp_ns > 0


def test_append_takes_bytes_bytearray_memoryview_and_a_single_event(store):
    """Data may be bytes, bytearray or memoryview, and events one NewEvent or a list."""
    store.append("s-1", NewEvent("A", b"bytes"))
    store.append("s-1", [NewEvent("A", bytearray(b"bytearray"))])
    store.append("s-1", [NewEvent("A", memoryview(b"xmemoryview")[1:])])
    store.append(b"s-1", [NewEvent(b"A")])
    assert [bytes(e.data) for e in store.read_stream("s-1")] == [
        b"bytes", b"bytearray", b"memoryview", b"",
    ]


def test_append_takes_type_and_data_tuples(store):
    """Events may be (event_type, data) tuples, mixed with NewEvents, in append and append_multi."""
    store.append("s-1", [("A", b"1"), NewEvent("B", b"2"), (b"C", bytearray(b"3"))])
    store.append_multi([("s-2", [("D", memoryview(b"4"))])])
    assert [(e.event_type, bytes(e.data)) for e in store.read_all()] == [
        ("A", b"1"), ("B", b"2"), ("C", b"3"), ("D", b"4")]
    assert [len(e.metadata) for e in store.read_stream("s-1")] == [0, 0, 0]


def test_expected_revisions(store):
    """ANY, NO_STREAM, STREAM_EXISTS and an exact int are checked; a failure writes nothing."""
    with pytest.raises(annal.WrongExpectedRevision) as err:
        store.append("s-1", [NewEvent("A")], expected=annal.STREAM_EXISTS)
    assert err.value.code == 20
    store.append("s-1", [NewEvent("A")], expected=annal.NO_STREAM)
    with pytest.raises(annal.WrongExpectedRevision):
        store.append("s-1", [NewEvent("A")], expected=annal.NO_STREAM)
    store.append("s-1", [NewEvent("A")], expected=annal.STREAM_EXISTS)
    store.append("s-1", [NewEvent("A")], expected=1)
    with pytest.raises(annal.WrongExpectedRevision, match="its revision is 2"):
        store.append("s-1", [NewEvent("A")], expected=5)
    store.append("s-1", [NewEvent("A")], expected=annal.ExpectedRevision.exact(2))
    store.append("s-1", [NewEvent("A")], expected=annal.ANY)
    assert store.stream_revision("s-1") == 4
    assert annal.ExpectedRevision.exact(3) == 3


def test_retry_with_same_ids_writes_nothing(store):
    """Appending the same event ids again returns the original result and adds no event."""
    events = [NewEvent("A", b"1", id=b"0123456789abcdef")]
    first = store.append("s-1", events, expected=annal.NO_STREAM)
    again = store.append("s-1", events, expected=annal.NO_STREAM)
    assert first == again
    assert store.stream_revision("s-1") == 0


@pytest.mark.parametrize("durability", list(annal.Durability.__members__.values())
                         if hasattr(annal.Durability, "__members__")
                         else [annal.Durability.BUFFERED, annal.Durability.WRITTEN,
                               annal.Durability.SYNCED])
def test_each_durability(store, durability):
    """Every durability level acknowledges an append that reads back."""
    store.append("s-1", [NewEvent("A", b"x")], durability=durability)
    assert [e.data for e in store.read_stream("s-1")] == [b"x"]


def test_multi_stream_append_is_all_or_nothing(store):
    """A multi-stream append writes every part, or none when one expectation fails."""
    results = store.append_multi([
        ("order-1", [NewEvent("OrderCreated")], annal.NO_STREAM),
        ("customer-7", [NewEvent("CreditReserved"), NewEvent("Note")]),
    ])
    assert [r.last_revision for r in results] == [0, 1]
    with pytest.raises(annal.WrongExpectedRevision):
        store.append_multi([
            ("order-2", [NewEvent("OrderCreated")], annal.NO_STREAM),
            ("customer-7", [NewEvent("CreditReserved")], annal.NO_STREAM),
        ])
    assert store.stream_revision("order-2") is None
    assert store.stream_revision("customer-7") == 1


def test_read_stream_directions_start_and_max_count(store):
    """Stream reads go forwards or backwards from a revision and stop at max_count, across pages."""
    for chunk in range(12):
        store.append("s-1", [NewEvent("E", str(chunk * 100 + i).encode()) for i in range(100)],
                     durability=annal.Durability.WRITTEN)
    forwards = [e.revision for e in store.read_stream("s-1")]
    assert forwards == list(range(1200))
    backwards = [e.revision for e in store.read_stream("s-1", direction=annal.Direction.BACKWARDS)]
    assert backwards == list(range(1199, -1, -1))
    assert [e.revision for e in store.read_stream("s-1", 1000, max_count=3)] == [1000, 1001, 1002]
    assert [e.revision for e in store.read_stream(
        "s-1", 5, direction=annal.Direction.BACKWARDS)] == [5, 4, 3, 2, 1, 0]
    assert len(list(store.read_stream("s-1", max_count=700))) == 700


def test_read_category_and_all(store):
    """Category reads see only their streams; the whole log reads in position order both ways."""
    store.append("order-1", [NewEvent("A")])
    store.append("customer-1", [NewEvent("B")])
    store.append("order-2", [NewEvent("C")])
    assert [e.stream for e in store.read_category("order")] == ["order-1", "order-2"]
    assert [e.stream for e in store.read_category(
        "order", direction=annal.Direction.BACKWARDS)] == ["order-2", "order-1"]
    assert [e.position for e in store.read_category("order", 1)] == [2]
    assert [e.position for e in store.read_all()] == [0, 1, 2]
    assert [e.position for e in store.read_all(direction=annal.Direction.BACKWARDS)] == [2, 1, 0]
    assert [e.position for e in store.read_all(1, max_count=1)] == [1]
    assert list(store.read_category("nothing")) == []


def test_temporal_reads(store):
    """A stream reads as it was before a position, or at a time."""
    store.append("order-1", [NewEvent("Created")])
    time.sleep(0.01)
    between = time.time_ns()
    time.sleep(0.01)
    store.append("order-1", [NewEvent("Paid")])
    assert [e.event_type for e in store.read_stream("order-1", as_of=1)] == ["Created"]
    assert [e.event_type for e in store.read_stream("order-1", as_of_time_ns=between)] == ["Created"]
    assert store.position_after_time(between) == 1
    assert len(list(store.read_stream("order-1", as_of_time_ns=time.time_ns()))) == 2
    with pytest.raises(ValueError):
        store.read_stream("order-1", as_of=1, as_of_time_ns=between)


def test_truncate_and_delete(store):
    """A truncated stream reads from its new start; a deleted one raises StreamDeleted."""
    store.append("s-1", [NewEvent("A"), NewEvent("B"), NewEvent("C")])
    store.truncate_stream("s-1", 2)
    assert [e.event_type for e in store.read_stream("s-1")] == ["C"]
    info = store.stream_info("s-1")
    assert (info.revision, info.truncate_before, info.deleted) == (2, 2, False)
    store.delete_stream("s-1")
    assert store.stream_info("s-1").deleted
    with pytest.raises(annal.StreamDeleted):
        store.read_stream("s-1")
    with pytest.raises(annal.StreamDeleted):
        store.append("s-1", [NewEvent("D")])
    with pytest.raises(annal.StreamNotFound):
        store.stream_info("never")
    with pytest.raises(annal.StreamNotFound):
        store.read_stream("never")


def test_reopen_keeps_events_and_checkpoint(tmp_path):
    """Events survive close and reopen, with and without an explicit index checkpoint."""
    path = tmp_path / "store"
    with annal.EventStore.open(path) as store:
        store.append("s-1", [NewEvent("A", b"1")])
        store.checkpoint()
        store.append("s-1", [NewEvent("B", b"2")])
    with annal.EventStore.open(str(path), index_checkpoint_events=10) as store:
        assert [e.data for e in store.read_stream("s-1")] == [b"1", b"2"]
        assert store.next_position == 2
        assert store.path == path


def test_closed_store(tmp_path):
    """After close, calls raise Closed, closing again is fine, and the directory can be reopened."""
    store = annal.EventStore.open(tmp_path / "s")
    assert not store.closed
    store.close()
    store.close()
    assert store.closed
    with pytest.raises(annal.Closed) as err:
        store.append("s-1", [NewEvent("A")])
    assert err.value.code == 10
    annal.EventStore.open(tmp_path / "s").close()


def test_second_open_is_locked(store):
    """A second open of an open directory raises Locked."""
    with pytest.raises(annal.Locked):
        annal.EventStore.open(store.path)


def test_store_subscription_catch_up_then_live(store):
    """A subscription delivers existing events, then new ones, then times out with None."""
    store.append("order-1", [NewEvent("A")])
    sub = store.subscribe()
    assert sub.next(timeout=1).event_type == "A"
    assert sub.next(timeout=0.05) is None
    store.append("order-1", [NewEvent("B")])
    assert sub.next(timeout=1).event_type == "B"
    assert sub.position == 2
    assert sub.try_next() is None
    sub.close()
    with pytest.raises(annal.Closed):
        sub.next(timeout=0)


def test_store_subscription_filters(store):
    """Subscriptions filter by category or event type, from a position or the end."""
    store.append("order-1", [NewEvent("Created")])
    store.append("customer-1", [NewEvent("Created")])
    store.append("order-1", [NewEvent("Paid")])
    by_category = store.subscribe(category="customer")
    assert by_category.next(timeout=1).stream == "customer-1"
    assert by_category.next(timeout=0.05) is None
    by_type = store.subscribe(1, event_type="Paid")
    assert by_type.next(timeout=1).position == 2
    by_prefix = store.subscribe(stream_prefix="cust")
    assert by_prefix.next(timeout=1).stream == "customer-1"
    assert by_prefix.next(timeout=0.05) is None
    at_end = store.subscribe(annal.END)
    assert at_end.next(timeout=0.05) is None
    with pytest.raises(ValueError):
        store.subscribe(category="a", event_type="b")
    with pytest.raises(ValueError):
        store.subscribe(category="a", stream_prefix="b")


def test_subscription_iteration_ends_when_store_closes(tmp_path):
    """`for event in sub` yields every event, then stops once the store is closed."""
    store = annal.EventStore.open(tmp_path / "s")
    store.append("s-1", [NewEvent("A"), NewEvent("B")])
    sub = store.subscribe(visibility=annal.Visibility.WRITTEN)
    store.close()
    assert [e.event_type for e in sub] == ["A", "B"]
