"""Exceptions: one class per engine error code under annal.Error, and every bad input
gets the right exception rather than a crash."""

import pytest

import annal
from annal import NewEvent

CODES = {
    "IoError": 1, "NoSpace": 2, "Corrupt": 3, "Poisoned": 4, "Locked": 5,
    "LimitExceeded": 6, "EmptyBatch": 7, "PositionOutOfRange": 8, "InvalidOptions": 9,
    "Closed": 10, "UnknownConsumer": 11, "ConsumerExists": 12, "InvalidConsumerName": 13,
    "TooManySubscriptions": 14, "TooManyConsumers": 15, "BehindRetention": 16,
    "CheckpointRegression": 17, "IoUringUnavailable": 18, "ReadOnly": 19, "WrongExpectedRevision": 20, "StreamDeleted": 21,
    "StreamNotFound": 22, "IdempotencyConflict": 23, "InvalidArgument": 24,
}


def test_hierarchy_and_codes():
    """Every engine error code has a subclass of annal.Error carrying that code."""
    assert issubclass(annal.Error, Exception)
    for name, code in CODES.items():
        cls = getattr(annal, name)
        assert issubclass(cls, annal.Error), name
        assert cls.code == code, name


def test_bad_stream_names(store):
    """Empty, oversized or wrongly typed stream names are rejected with clear exceptions."""
    with pytest.raises(annal.InvalidArgument) as err:
        store.append("", [NewEvent("A")])
    assert err.value.code == 24
    with pytest.raises(annal.InvalidArgument):
        store.append("s" * (annal.STREAM_NAME_BYTES_MAX + 1), [NewEvent("A")])
    with pytest.raises(TypeError):
        store.append(42, [NewEvent("A")])
    with pytest.raises(annal.InvalidArgument):
        store.read_stream("")


def test_bad_events(store):
    """Non-NewEvent items, bad ids, non-bytes data and oversized payloads raise the right errors."""
    with pytest.raises(TypeError):
        store.append("s-1", [b"raw bytes"])
    with pytest.raises(TypeError):
        store.append("s-1", 5)
    with pytest.raises(TypeError):
        store.append("s-1", [("A",)])
    with pytest.raises(TypeError):
        store.append("s-1", [("A", "text")])
    with pytest.raises(TypeError):
        store.append("s-1", [(1, b"data")])
    with pytest.raises(ValueError):
        NewEvent("A", b"", id=b"short")
    with pytest.raises(TypeError):
        NewEvent("A", "text is not bytes")
    with pytest.raises(TypeError):
        NewEvent("A", b"", id=3.5)
    with pytest.raises(annal.LimitExceeded) as err:
        store.append("s-1", [NewEvent("A", bytes(annal.EVENT_BYTES_MAX + 1))])
    assert err.value.code == 6
    with pytest.raises(annal.InvalidArgument):
        store.append("s-1", [NewEvent("T" * (annal.EVENT_TYPE_BYTES_MAX + 1))])
    assert store.stream_revision("s-1") is None


def test_idempotency_conflict(store):
    """Reusing some but not all ids of a stored append raises IdempotencyConflict."""
    store.append("s-1", [NewEvent("A", id=b"a" * 16), NewEvent("B", id=b"b" * 16)])
    with pytest.raises(annal.IdempotencyConflict) as err:
        store.append("s-1", [NewEvent("A", id=b"a" * 16), NewEvent("C", id=b"c" * 16)])
    assert err.value.code == 23


def test_bad_expectations_and_positions(store):
    """Wrong types or negative numbers for expected, start and timeout raise TypeError/ValueError."""
    with pytest.raises(TypeError):
        store.append("s-1", [NewEvent("A")], expected="any")
    with pytest.raises(TypeError):
        store.append("s-1", [NewEvent("A")], expected=True)
    with pytest.raises(ValueError):
        store.append("s-1", [NewEvent("A")], expected=-1)
    with pytest.raises(ValueError):
        store.read_all(-1)
    with pytest.raises(TypeError):
        store.read_all("zero")
    with pytest.raises(TypeError):
        store.append("s-1", [NewEvent("A")], durability="synced")
    with pytest.raises(TypeError):
        store.read_all(direction="backwards")
    with pytest.raises(annal.PositionOutOfRange):
        store.subscribe(10)
    sub = store.subscribe()
    with pytest.raises(ValueError):
        sub.next(timeout=-1)
    with pytest.raises(ValueError):
        sub.next(timeout=float("nan"))
    with pytest.raises(ValueError):
        store.append_multi([("s-1",)])
    with pytest.raises(TypeError):
        store.append_multi(["s-1"])


def test_log_bad_inputs(log):
    """The raw log rejects empty batches, non-bytes events, and positions out of range."""
    with pytest.raises(annal.EmptyBatch) as err:
        log.append_batch([])
    assert err.value.code == 7
    with pytest.raises(TypeError):
        log.append("text")
    with pytest.raises(TypeError):
        log.append_batch([b"ok", 3])
    with pytest.raises(annal.PositionOutOfRange):
        log.read(0)
    with pytest.raises(annal.PositionOutOfRange):
        log.read_from(5)
    with pytest.raises(annal.LimitExceeded):
        log.append(bytes(annal.EVENT_BYTES_MAX + 1))


def test_bad_options(tmp_path):
    """Impossible open options raise InvalidOptions/LimitExceeded or ValueError, not a crash."""
    with pytest.raises((annal.InvalidOptions, annal.LimitExceeded)):
        annal.Log.open(tmp_path / "a", segment_bytes=1)
    with pytest.raises(ValueError):
        annal.Log.open(tmp_path / "b", recovery="yolo")
    with pytest.raises(TypeError):
        annal.Log.open(None)


def test_corrupt_segment_refuses_to_open(tmp_path):
    """A damaged record followed by valid ones makes open raise Corrupt with the engine's code."""
    path = tmp_path / "log"
    with annal.Log.open(path, segment_bytes=64 << 10) as log:
        log.append(b"A" * 64)
        log.append(b"B" * 64)
    [segment] = [p for p in path.iterdir() if p.read_bytes().find(b"A" * 64) >= 0]
    data = bytearray(segment.read_bytes())
    data[data.find(b"A" * 64) + 10] ^= 0xFF
    segment.write_bytes(bytes(data))
    with pytest.raises(annal.Corrupt) as err:
        annal.Log.open(path, segment_bytes=64 << 10)
    assert err.value.code == 3
    assert isinstance(err.value, annal.Error)


def test_errors_carry_their_facts(store, log):
    """Exceptions carry the facts a caller acts on: actual revision, limit values, positions, names."""
    store.append("s-1", [NewEvent("A"), NewEvent("B")])
    with pytest.raises(annal.WrongExpectedRevision) as err:
        store.append("s-1", [NewEvent("C")], expected=annal.NO_STREAM)
    assert (err.value.stream, err.value.expected, err.value.actual) == ("s-1", annal.NO_STREAM, 1)
    with pytest.raises(annal.WrongExpectedRevision) as err:
        store.append("s-2", [NewEvent("C")], expected=3)
    assert err.value.actual is None and err.value.expected == 3
    with pytest.raises(annal.LimitExceeded) as err:
        log.append(bytes(annal.EVENT_BYTES_MAX + 1))
    assert (err.value.value, err.value.max) == (annal.EVENT_BYTES_MAX + 1, annal.EVENT_BYTES_MAX)
    with pytest.raises(annal.PositionOutOfRange) as err:
        log.read(7)
    assert (err.value.position, err.value.first, err.value.next) == (7, 0, 0)
    with pytest.raises(annal.UnknownConsumer) as err:
        log.consumer("nobody")
    assert err.value.name == "nobody"
