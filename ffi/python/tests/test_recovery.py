"""Recovery reports, the io path option, store retention, the last events of a stream, times as datetimes, names as bytes."""

import datetime
import time

import pytest

import annal


def _tear_tail(segment):
    """Writes garbage right after the last record: the torn tail of a crash."""
    data = segment.read_bytes()
    end = len(data.rstrip(b"\0"))
    end = (end + 7) // 8 * 8
    with open(segment, "r+b") as f:
        f.seek(end)
        f.write(b"\xab" * 24)


def test_clean_open_and_torn_tail_report(tmp_path):
    """A clean open reports nothing; a torn tail is reported as a cut with its quarantined copy."""
    path = tmp_path / "log"
    with annal.Log.open(path, segment_bytes=64 << 10) as log:
        report = log.recovery_report()
        assert report.clean and report.actions == [] and report.index is None
        assert report.io_path in (annal.IoPath.PWRITE, annal.IoPath.IO_URING)
        assert report.io_path == log.io_path
        log.append(b"acknowledged")
    _tear_tail(path / "00000000000000000000.log")
    with annal.Log.open(path, segment_bytes=64 << 10) as log:
        report = log.recovery_report()
        assert not report.clean and report.segments_scanned >= 1
        [action] = report.actions
        assert (action.kind, action.reason) == ("cut", "torn_tail")
        assert action.segment.name == "00000000000000000000.log"
        assert action.offset > 0 and action.bytes_cut > 0 and action.detail
        assert action.quarantine.exists()
        assert "cut" in str(action)
        assert [bytes(e.payload) for e in log.read_from(0)] == [b"acknowledged"]


def test_store_index_recovery(tmp_path):
    """A store reopened after a clean close loads its index checkpoint and says from where it replayed."""
    path = tmp_path / "store"
    with annal.EventStore.open(path) as store:
        store.append("order-1", [("Placed", b"")])
    with annal.EventStore.open(path) as store:
        index = store.index_recovery()
        assert index.loaded and index.replayed_from == 1 and index.reason is None
        report = store.recovery_report()
        assert report.clean and report.index.loaded


def test_io_path_option(tmp_path):
    """PWRITE is used as asked; IO_URING opens or raises IoUringUnavailable; a wrong type is a TypeError."""
    with annal.EventStore.open(tmp_path / "a", io_path=annal.IoPath.PWRITE) as store:
        assert store.io_path == annal.IoPath.PWRITE
    try:
        with annal.Log.open(tmp_path / "b", io_path=annal.IoPath.IO_URING) as log:
            assert log.io_path == annal.IoPath.IO_URING
    except annal.IoUringUnavailable:
        pass
    with pytest.raises(TypeError):
        annal.Log.open(tmp_path / "c", io_path="pwrite")


def test_truncate_before_holds_back_for_consumers(tmp_path):
    """Retention stops at the oldest consumer's checkpoint unless forced; bad positions are refused."""
    with annal.EventStore.open(tmp_path / "s", segment_bytes=64 << 10) as store:
        for n in range(600):
            store.append(f"clock-{n % 3}", [("Ticked", b"x" * 400)], durability=annal.Durability.WRITTEN)
        audit = store.create_consumer("audit", 300)
        first = store.truncate_before(500)
        assert 0 < first <= 300 and store.first_position == first
        first = store.truncate_before(500, force=True)
        assert 300 < first <= 500 and store.first_position == first
        with pytest.raises(annal.PositionOutOfRange):
            audit.subscribe()
        with pytest.raises(ValueError):
            store.truncate_before(-1)
        with pytest.raises(TypeError):
            store.truncate_before(1, force="yes")
        last = store.read_stream_last("clock-1", 3)
        assert [e.revision for e in last] == [197, 198, 199]
        assert store.read_stream_last("clock-1", 0) == []
        with pytest.raises(annal.StreamNotFound):
            store.read_stream_last("nobody-1", 3)


def test_times_as_datetimes_and_names_as_bytes(store):
    """Temporal reads take datetimes (aware or naive) and match the ns forms; names read back as exact bytes."""
    store.append(b"order-\xff", [("Created", b"")])
    between = datetime.datetime.now(datetime.timezone.utc)
    time.sleep(0.002)
    store.append(b"order-\xff", [("Paid", b"")])
    ns = store.read_stream_last(b"order-\xff", 1)[0].timestamp_ns
    assert len(list(store.read_stream(b"order-\xff", as_of_time=between))) == 1
    assert len(list(store.read_stream(b"order-\xff", as_of_time=between.astimezone().replace(tzinfo=None)))) == 1
    assert store.position_after(between) == 1
    assert store.position_after(datetime.datetime.now()) == 2
    assert store.position_after_time(ns) == 2
    event = next(store.read_stream(b"order-\xff"))
    assert event.stream_bytes == b"order-\xff" and event.stream == "order-\ufffd"
    assert event.event_type_bytes == b"Created"
    with pytest.raises(ValueError):
        store.position_after(datetime.datetime(1960, 1, 1, tzinfo=datetime.timezone.utc))
    with pytest.raises(TypeError):
        store.position_after(1.5)
    with pytest.raises(ValueError):
        store.read_stream(b"order-\xff", as_of_time=between, as_of_time_ns=ns)
    with pytest.raises(ValueError):
        store.read_stream(b"order-\xff", as_of_time=between, as_of=1)


def test_metrics_index_memory_and_limits(tmp_path):
    """Metrics count appends and syncs, index memory counts streams, the limits match the engine's."""
    with annal.EventStore.open(tmp_path / "s") as store:
        store.append("a-1", [("T", b"x")])
        store.append("b-1", [("T", b"y")], durability=annal.Durability.WRITTEN)
        metrics = store.metrics()
        assert metrics.appends == 2 and metrics.events == 2 and metrics.group_syncs >= 1
        assert store.index_memory().streams == 2 and store.index_memory().heap_bytes > 0
    with annal.Log.open(tmp_path / "l") as log:
        log.append_batch([b"a", b"b"])
        assert (log.metrics().appends, log.metrics().events) == (1, 2)
    assert annal.IDEMPOTENCY_WINDOW_EVENTS == 100_000 and annal.CONSUMERS_MAX > 0
    assert annal.SEGMENT_BYTES_MIN < annal.SEGMENT_BYTES_MAX
    with pytest.raises(annal.Closed):
        log.metrics()
