"""Durable consumers on the raw log: create, list, delete, subscribe, commit, resume."""

import pytest

import annal


def test_create_get_list_delete(log):
    """Consumers are created at a start, found by name, listed in name order and deleted."""
    log.append_batch([b"a", b"b"])
    log.create_consumer("billing")
    log.create_consumer("audit", 1)
    log.create_consumer("tail", annal.END)
    assert [(c.name, c.checkpoint) for c in log.consumers()] == [
        ("audit", 1), ("billing", 0), ("tail", 2)]
    assert log.consumer("billing").name == "billing"
    log.delete_consumer("tail")
    assert [c.name for c in log.consumers()] == ["audit", "billing"]
    with pytest.raises(annal.UnknownConsumer):
        log.consumer("tail")


def test_subscribe_commit_and_resume_after_reopen(tmp_path):
    """A consumer resumes after a reopen from the checkpoint it committed, seeing only newer events."""
    path = tmp_path / "log"
    with annal.Log.open(path) as log:
        log.append_batch([b"e0", b"e1", b"e2"])
        consumer = log.create_consumer("projector")
        sub = consumer.subscribe(visibility=annal.Visibility.WRITTEN)
        assert sub.next(timeout=1).payload == b"e0"
        assert sub.next(timeout=1).payload == b"e1"
        consumer.commit(sub.position)
        assert consumer.checkpoint == 2
    with annal.Log.open(path) as log:
        consumer = log.consumer("projector")
        assert consumer.checkpoint == 2
        log.append(b"e3")
        sub = consumer.subscribe()
        assert [bytes(sub.next(timeout=1).payload) for _ in range(2)] == [b"e2", b"e3"]
        assert sub.next(timeout=0.05) is None


def test_append_and_commit_is_one_record(tmp_path):
    """append_and_commit stores the events and the checkpoint together, across a reopen."""
    path = tmp_path / "log"
    with annal.Log.open(path) as log:
        log.append(b"OrderCreated")
        consumer = log.create_consumer("billing")
        sub = consumer.subscribe()
        event = sub.next(timeout=1)
        appended = consumer.append_and_commit([b"InvoiceIssued " + bytes(event.payload)],
                                              sub.position)
        assert (appended.first, appended.last) == (1, 1)
        assert consumer.checkpoint == 1
        log.flush_consumers()
    with annal.Log.open(path) as log:
        assert log.consumer("billing").checkpoint == 1
        assert log.read(1).payload == b"InvoiceIssued OrderCreated"


def test_consumer_errors(log):
    """Bad consumer calls raise their own exceptions with the engine's codes."""
    log.append(b"a")
    consumer = log.create_consumer("c")
    with pytest.raises(annal.ConsumerExists) as err:
        log.create_consumer("C")
    assert err.value.code == 12
    with pytest.raises(annal.InvalidConsumerName):
        log.create_consumer("has space")
    with pytest.raises(annal.InvalidConsumerName):
        log.create_consumer("")
    with pytest.raises(annal.PositionOutOfRange):
        consumer.commit(5)
    consumer.commit(1)
    with pytest.raises(annal.CheckpointRegression) as err:
        consumer.commit(0)
    assert err.value.code == 17
    log.delete_consumer("c")
    with pytest.raises(annal.UnknownConsumer):
        consumer.commit(1)
    with pytest.raises(annal.UnknownConsumer):
        log.delete_consumer("c")


def test_consumer_handle_after_close(tmp_path):
    """A consumer handle kept past its log's close reads what is there, then raises Closed; reopening resumes it."""
    log = annal.Log.open(tmp_path / "log")
    log.append(b"a")
    consumer = log.create_consumer("c")
    log.append(b"b")
    consumer.commit(1)
    log.close()
    assert [bytes(e.payload) for e in consumer.subscribe()] == [b"b"]
    with pytest.raises(annal.Closed):
        consumer.commit(2)
    with pytest.raises(annal.Closed):
        consumer.append_and_commit([b"c"], 2)
    with annal.Log.open(tmp_path / "log") as log:
        assert log.consumer("c").checkpoint == 1
