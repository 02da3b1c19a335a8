"""The raw log's API: appends, batches, flush and sync, reads, positions, subscriptions."""

import pytest

import annal


def test_append_read_and_positions(log):
    """Appends take gapless positions that read back, and the watermarks follow them."""
    assert log.next_position == 0 and log.last_written is None
    first = log.append(b"one")
    assert (first.first, first.last) == (0, 0)
    batch = log.append_batch([b"two", bytearray(b"three"), memoryview(b"four")])
    assert (batch.first, batch.last) == (1, 3)
    assert log.read(2).payload == b"three"
    assert log.read(3).position == 3
    assert [bytes(e.payload) for e in log.read_from()] == [b"one", b"two", b"three", b"four"]
    assert [e.position for e in log.read_from(2)] == [2, 3]
    assert log.first_position == 0 and log.next_position == 4
    assert log.last_written == 3 and log.last_synced == 3
    assert not log.poisoned


def test_buffered_flush_and_sync(log):
    """A buffered append becomes written on flush and synced on sync."""
    log.append(b"a", durability=annal.Durability.BUFFERED)
    log.flush()
    assert log.last_written == 0
    log.append(b"b", durability=annal.Durability.WRITTEN)
    log.sync()
    assert log.last_synced == 1


def test_read_from_pages_through_many_events(log):
    """read_from iterates over more events than one page holds, in order."""
    for start in range(0, 3000, 500):
        log.append_batch([str(i).encode() for i in range(start, start + 500)],
                         durability=annal.Durability.WRITTEN)
    assert [int(bytes(e.payload)) for e in log.read_from()] == list(range(3000))


def test_log_subscription(log):
    """A log subscription delivers from a start, then live, honouring visibility."""
    log.append(b"a")
    sub = log.subscribe(annal.BEGINNING)
    assert sub.next(timeout=1).payload == b"a"
    written = log.subscribe(annal.END, visibility=annal.Visibility.WRITTEN)
    log.append(b"b", durability=annal.Durability.WRITTEN)
    assert written.next(timeout=1).payload == b"b"
    log.sync()
    assert sub.next(timeout=1).position == 1
    with log.subscribe(1) as third:
        assert third.next(timeout=1).payload == b"b"


def test_reopen_and_truncate_before(tmp_path):
    """Events survive a reopen; truncate_before removes whole sealed segments only."""
    path = tmp_path / "log"
    with annal.Log.open(path, segment_bytes=64 << 10) as log:
        for _ in range(40):
            log.append_batch([b"x" * 1000] * 10, durability=annal.Durability.WRITTEN)
    with annal.Log.open(path, verify_reads=True, recovery="strict") as log:
        assert log.next_position == 400
        first = log.truncate_before(200)
        assert 0 < first <= 200
        assert log.first_position == first
        with pytest.raises(annal.PositionOutOfRange):
            log.read(0)


def test_closed_log(tmp_path):
    """After close every call raises Closed; closing twice is fine."""
    log = annal.Log.open(tmp_path / "log")
    log.close()
    log.close()
    assert log.closed
    for call in (lambda: log.append(b"x"), lambda: log.read(0), lambda: log.next_position,
                 lambda: log.subscribe(), lambda: log.consumers()):
        with pytest.raises(annal.Closed):
            call()
