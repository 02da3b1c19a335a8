"""The objects a read returns (RecordedEvent, Payload, EventIterator), made with the C API:
read-only, not constructible, the same values by any attribute lookup, payloads that
outlive their event and store, and iterators safe to share between threads."""

import gc
import threading

import pytest

import annal
from annal import NewEvent


def test_read_objects_cannot_be_made_changed_or_subclassed(store):
    """RecordedEvent, Payload and EventIterator refuse construction, attribute writes and subclassing."""
    store.append("s-1", [NewEvent("A", b"data")])
    iterator = store.read_stream("s-1")
    event = next(iterator)
    for cls in (annal.RecordedEvent, annal.Payload, annal.EventIterator):
        with pytest.raises(TypeError):
            cls()
        with pytest.raises(TypeError):
            type("Sub", (cls,), {})
    for name in ("revision", "position", "data", "stream", "not_an_attribute"):
        with pytest.raises(AttributeError):
            setattr(event, name, 1)
    with pytest.raises(AttributeError):
        del event.revision
    with pytest.raises(AttributeError, match="no_such_field"):
        event.no_such_field
    with pytest.raises(AttributeError):
        event.data.extra = 1
    assert isinstance(event, annal.RecordedEvent)
    assert isinstance(event.data, annal.Payload)
    assert isinstance(iterator, annal.EventIterator)
    assert iter(iterator) is iterator


def test_attributes_agree_by_any_lookup(store):
    """Every attribute reads the same through the interned-name fast path, a built name and the class's descriptor."""
    event_id = bytes(range(16))
    store.append("s-\xe9", [NewEvent("Typed", b"payload", id=event_id, metadata=b"meta")])
    [event] = store.read_stream("s-\xe9")
    names = ["stream", "stream_bytes", "event_type", "event_type_bytes", "revision",
             "position", "timestamp_ns", "id", "data", "metadata"]
    for name in names:
        built = "".join(list(name))  # an equal string that is not the interned one
        by_fast = getattr(event, name)
        assert getattr(event, built) == by_fast
        assert getattr(type(event), name).__get__(event) == by_fast
        assert name in dir(event)
    assert event.stream == "s-\xe9" and event.stream_bytes == "s-\xe9".encode()
    assert (event.revision, event.position, event.event_type) == (0, 0, "Typed")
    assert event.id == event_id and event.timestamp_ns > 0
    assert event.data == b"payload" and event.metadata == b"meta"
    assert event.data is event.data
    assert "revision=0" in repr(event) and "Typed" in repr(event)


def test_payload_outlives_its_event_and_store(tmp_path):
    """A payload kept after its event, iterator and store are gone still reads its bytes: it holds the mapping."""
    with annal.EventStore.open(tmp_path / "store") as store:
        store.append("s-1", [NewEvent("A", b"kept" * 1000)])
        data = next(store.read_stream("s-1")).data
        view = memoryview(data)
    del store
    gc.collect()
    assert view.tobytes() == b"kept" * 1000 and bytes(data) == b"kept" * 1000


def test_many_events_held_at_once_keep_their_values(store):
    """Events of several pages held together (list()) each keep their own revision and data."""
    store.append("s-1", [("T", str(i).encode()) for i in range(1500)])
    events = list(store.read_stream("s-1"))
    assert [e.revision for e in events] == list(range(1500))
    assert [bytes(e.data) for e in events] == [str(i).encode() for i in range(1500)]
    backwards = list(store.read_stream("s-1", direction=annal.Direction.BACKWARDS, max_count=600))
    assert [e.revision for e in backwards] == list(range(1499, 899, -1))


def test_exhausted_and_closed_iterators(store):
    """An exhausted iterator keeps raising StopIteration; one whose store closed raises Closed at its next page."""
    store.append("s-1", [("T", b"x")] * 600)
    done = store.read_stream("s-1", max_count=2)
    assert len(list(done)) == 2
    with pytest.raises(StopIteration):
        next(done)
    with pytest.raises(StopIteration):
        next(done)
    paged = store.read_stream("s-1")
    for _ in range(512):  # the first page, fetched at the call
        next(paged)
    store.close()
    with pytest.raises(annal.Closed):
        next(paged)


def test_one_iterator_shared_by_threads_loses_and_repeats_nothing(store):
    """Two threads pulling from one iterator get every event exactly once between them."""
    events = 20_000
    for _ in range(events // 1000):
        store.append("s-1", [("T", b"x")] * 1000)
    iterator = store.read_stream("s-1")
    taken = [[], []]

    def pull(mine):
        while True:
            try:
                mine.append(next(iterator).revision)
            except StopIteration:
                return
            except RuntimeError:  # the other thread is fetching a page
                continue

    threads = [threading.Thread(target=pull, args=(t,)) for t in taken]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(taken[0] + taken[1]) == list(range(events))
