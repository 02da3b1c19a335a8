"""Stream handles: EventStore.stream_handle and EventStore.append_to, and the borrowing
single-event append."""

import sys
import threading

import pytest

import annal
from annal import NewEvent


def test_append_to_round_trip(store):
    """Appends through a handle land in its stream with append's revisions, results, retries and errors, between appends by name, and read back."""
    order = store.stream_handle("order-1")
    assert isinstance(order, annal.StreamHandle)
    assert order.name == "order-1" and order.name_bytes == b"order-1"
    assert repr(order) == "<annal.StreamHandle \"order-1\">"
    first = store.append_to(order, NewEvent("OrderPlaced", b'{"total": 10}'),
                            expected=annal.NO_STREAM)
    assert (first.first_revision, first.last_revision) == (0, 0)
    assert (first.first_position, first.last_position) == (0, 0)
    store.append("customer-1", NewEvent("Noted"))
    store.append("order-1", [("Noted", b"by name")], expected=0)
    paid = store.append_to(order, [NewEvent("OrderPaid")], expected=1,
                           durability=annal.Durability.WRITTEN)
    assert (paid.first_revision, paid.first_position) == (2, 3)
    lines = store.append_to(order, [("LineAdded", b"a"), ("LineAdded", bytearray(b"b"))],
                            expected=annal.STREAM_EXISTS, durability=annal.Durability.BUFFERED)
    assert (lines.first_revision, lines.last_revision) == (3, 4)
    shipped = NewEvent("OrderShipped", id=b"0123456789abcdef")
    once = store.append_to(order, shipped)
    assert store.append_to(order, shipped) == once
    with pytest.raises(annal.WrongExpectedRevision) as err:
        store.append_to(order, NewEvent("Late"), expected=annal.NO_STREAM)
    assert err.value.stream == "order-1" and err.value.actual == 5
    with pytest.raises(annal.EmptyBatch):
        store.append_to(order, [])
    events = list(store.read_stream("order-1"))
    assert [e.revision for e in events] == list(range(6))
    assert [e.event_type for e in events] == [
        "OrderPlaced", "Noted", "OrderPaid", "LineAdded", "LineAdded", "OrderShipped"]
    assert bytes(events[0].data) == b'{"total": 10}'
    assert events[5].id == b"0123456789abcdef"
    assert {e.stream for e in events} == {"order-1"}
    assert store.stream_revision("customer-1") == 0


def test_handles_refuse_bad_names_and_wrong_types(store):
    """Bad names raise InvalidArgument when the handle is made; wrong types raise TypeError, bad values ValueError; none writes anything."""
    for bad in ["", "order\0-1", "n" * (annal.STREAM_NAME_BYTES_MAX + 1), b""]:
        with pytest.raises(annal.InvalidArgument) as err:
            store.stream_handle(bad)
        assert err.value.code == 24
    longest = store.stream_handle("n" * annal.STREAM_NAME_BYTES_MAX)
    assert store.append_to(longest, NewEvent("A")).first_revision == 0
    assert store.stream_handle(b"raw-1").name == "raw-1"
    assert store.stream_handle(bytearray(b"raw-2")).name_bytes == b"raw-2"
    for wrong in [None, 7, 1.5, ["order-1"]]:
        with pytest.raises(TypeError):
            store.stream_handle(wrong)
    handle = store.stream_handle("order-1")
    with pytest.raises(TypeError):
        store.append_to("order-1", NewEvent("A"))
    with pytest.raises(TypeError):
        store.append_to(None, NewEvent("A"))
    with pytest.raises(TypeError):
        store.append_to(handle, 42)
    with pytest.raises(TypeError):
        store.append_to(handle, [42])
    with pytest.raises(TypeError):
        store.append_to(handle, NewEvent("A"), expected="1")
    with pytest.raises(TypeError):
        store.append_to(handle, NewEvent("A"), expected=True)
    with pytest.raises(ValueError):
        store.append_to(handle, NewEvent("A"), expected=-1)
    with pytest.raises(TypeError):
        store.append_to(handle, NewEvent("A"), durability="SYNCED")
    with pytest.raises(TypeError):
        store.append_to(handle, NewEvent("A"), annal.ANY)
    with pytest.raises(annal.InvalidArgument, match="event type"):
        store.append_to(handle, NewEvent("t" * (annal.EVENT_TYPE_BYTES_MAX + 1)))
    with pytest.raises(TypeError):
        annal.StreamHandle()
    with pytest.raises(annal.StreamNotFound):
        store.stream_info("order-1")


def test_a_handle_of_another_store_is_refused(tmp_path):
    """A handle made by one store raises InvalidArgument in another (even for a stream of the same name there) and writes nothing to it."""
    with annal.EventStore.open(tmp_path / "a", segment_bytes=1 << 20) as a, \
            annal.EventStore.open(tmp_path / "b", segment_bytes=1 << 20) as b:
        from_a = a.stream_handle("order-1")
        from_b = b.stream_handle("order-1")
        b.append_to(from_b, NewEvent("InB"))
        with pytest.raises(annal.InvalidArgument, match="made by another EventStore") as err:
            b.append_to(from_a, NewEvent("FromA"))
        assert err.value.code == 24
        with pytest.raises(annal.InvalidArgument):
            a.append_to(from_b, NewEvent("FromB"))
        with pytest.raises(annal.StreamNotFound):
            a.stream_info("order-1")
        assert [e.event_type for e in b.read_stream("order-1")] == ["InB"]
        a.append_to(from_a, NewEvent("InA"))
        assert [e.event_type for e in a.read_stream("order-1")] == ["InA"]


def test_use_after_close(tmp_path):
    """A closed store raises Closed from stream_handle and append_to; its handle still names its stream and is refused by the store reopened."""
    path = tmp_path / "store"
    store = annal.EventStore.open(path, segment_bytes=1 << 20)
    handle = store.stream_handle("order-1")
    store.append_to(handle, NewEvent("A"))
    store.close()
    with pytest.raises(annal.Closed):
        store.stream_handle("order-1")
    with pytest.raises(annal.Closed):
        store.append_to(handle, NewEvent("B"))
    assert handle.name == "order-1"
    with annal.EventStore.open(path, segment_bytes=1 << 20) as reopened:
        with pytest.raises(annal.InvalidArgument):
            reopened.append_to(handle, NewEvent("C"))
        again = reopened.stream_handle("order-1")
        assert reopened.append_to(again, NewEvent("C"), expected=0).first_revision == 1
        assert [e.event_type for e in reopened.read_stream("order-1")] == ["A", "C"]


def test_handles_across_checkpoints(store):
    """Handles keep appending to their own streams at the next revision across index checkpoints, with other streams created between."""
    names = [f"acct-{i}" for i in range(5)] + ["plain", "ord-1-x"]
    handles = [store.stream_handle(n) for n in names]
    for round_ in range(4):
        for i, handle in enumerate(handles):
            store.append(f"other-{round_}-{i}", NewEvent("Between"))
            expected = annal.NO_STREAM if round_ == 0 else round_ - 1
            result = store.append_to(handle, NewEvent("Round", f"{names[i]}/{round_}".encode()),
                                     expected=expected)
            assert result.first_revision == round_
        store.checkpoint()
    for name in names:
        events = list(store.read_stream(name))
        assert [bytes(e.data) for e in events] == [f"{name}/{r}".encode() for r in range(4)]
    assert len(list(store.read_category("acct"))) == 20


def test_a_handle_shared_between_threads(store):
    """One handle used by four threads at once appends every event exactly once to its stream."""
    handle = store.stream_handle("shared-1")

    def append():
        for _ in range(50):
            store.append_to(handle, NewEvent("Counted"), durability=annal.Durability.BUFFERED)

    threads = [threading.Thread(target=append) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    store.flush()
    assert [e.revision for e in store.read_stream("shared-1")] == list(range(200))


def test_single_event_append_by_every_name_type_keeps_no_reference(store):
    """A single NewEvent appended by a str, bytes, bytearray or memoryview name lands in that stream, and appending it again and again takes no lasting reference to its data or name."""
    data = b"payload-" + b"x" * 100
    event = NewEvent("Noted", data)
    name = "borrowed-" + "1"
    data_refs, name_refs = sys.getrefcount(data), sys.getrefcount(name)
    for _ in range(100):
        store.append(name, event, durability=annal.Durability.BUFFERED)
    assert (sys.getrefcount(data), sys.getrefcount(name)) == (data_refs, name_refs)
    store.append(b"borrowed-1", event, expected=99)
    store.append(bytearray(b"borrowed-1"), event, expected=100)
    store.append(memoryview(b"xborrowed-1")[1:], [("Tuple", b"t")], expected=101)
    events = list(store.read_stream("borrowed-1"))
    assert len(events) == 103
    assert all(bytes(e.data) == data for e in events[:102])
    assert (events[102].event_type, bytes(events[102].data)) == ("Tuple", b"t")
    with pytest.raises(annal.InvalidArgument):
        store.append("", event)
    with pytest.raises(annal.WrongExpectedRevision):
        store.append(name, event, expected=annal.NO_STREAM)
    assert store.stream_revision("borrowed-1") == 102
