"""Read-only followers from Python: a log and a store opened with read_only=True beside
their writers read what is written, follow new appends, and refuse changes."""

import pytest

import annal


def test_a_read_only_log_follows_its_writer_and_refuses_changes(tmp_path):
    """A follower log reads the writer's events, sees later ones after refresh(), and raises ReadOnly on appends and syncs."""
    writer = annal.Log.open(tmp_path / "log")
    writer.append(b"one")
    with annal.Log.open(tmp_path / "log", read_only=True) as follower:
        assert [bytes(e.payload) for e in follower.read_from()] == [b"one"]
        writer.append_batch([b"two", b"three"])
        follower.refresh()
        assert [bytes(e.payload) for e in follower.read_from()] == [b"one", b"two", b"three"]
        with pytest.raises(annal.ReadOnly) as raised:
            follower.append(b"nope")
        assert raised.value.code == 19
        with pytest.raises(annal.ReadOnly):
            follower.sync()
    writer.close()


def test_a_read_only_store_catches_up_on_every_read(tmp_path):
    """A follower store reads a stream the writer keeps appending to, without refresh or reopening, and raises ReadOnly on appends."""
    with annal.EventStore.open(tmp_path / "store") as writer:
        writer.append("order-1", [annal.NewEvent("Placed", b"1")])
        follower = annal.EventStore.open(tmp_path / "store", read_only=True)
        assert len(list(follower.read_stream("order-1"))) == 1
        writer.append("order-1", [annal.NewEvent("Paid", b"2")])
        assert [e.event_type for e in follower.read_stream("order-1")] == ["Placed", "Paid"]
        with pytest.raises(annal.ReadOnly):
            follower.append("order-1", [annal.NewEvent("Nope", b"")])
        follower.close()


def test_a_buffered_append_reaches_a_read_only_store_once_the_writer_flushes(tmp_path):
    """A store's flush() writes its buffered appends where a read-only store reads them; before it they stay in the writer's buffer."""
    with annal.EventStore.open(tmp_path / "store") as writer:
        writer.append("order-1", [annal.NewEvent("Placed", b"1")])
        follower = annal.EventStore.open(tmp_path / "store", read_only=True)
        writer.append("order-2", [annal.NewEvent("Placed", b"2")], durability=annal.Durability.BUFFERED)
        with pytest.raises(annal.StreamNotFound):
            list(follower.read_stream("order-2"))
        writer.flush()
        assert [bytes(e.data) for e in follower.read_stream("order-2")] == [b"2"]
        follower.flush()
        follower.close()
        with pytest.raises(annal.Closed):
            follower.flush()
