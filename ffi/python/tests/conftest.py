"""Shared fixtures: a fresh event store and log in pytest's tmp_path (real files)."""

import pytest

import annal


@pytest.fixture
def store(tmp_path):
    """An open event store in a temporary directory, closed after the test."""
    with annal.EventStore.open(tmp_path / "store", segment_bytes=1 << 20) as s:
        yield s


@pytest.fixture
def log(tmp_path):
    """An open raw log in a temporary directory, closed after the test."""
    with annal.Log.open(tmp_path / "log", segment_bytes=1 << 20) as lg:
        yield lg
