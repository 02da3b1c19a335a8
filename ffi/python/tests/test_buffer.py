"""Zero-copy payloads: event data read back exports the log's own memory through the
buffer protocol."""

import ctypes

import pytest

import annal
from annal import NewEvent


class _PyBuffer(ctypes.Structure):
    _fields_ = [
        ("buf", ctypes.c_void_p), ("obj", ctypes.c_void_p), ("len", ctypes.c_ssize_t),
        ("itemsize", ctypes.c_ssize_t), ("readonly", ctypes.c_int), ("ndim", ctypes.c_int),
        ("format", ctypes.c_char_p), ("shape", ctypes.c_void_p), ("strides", ctypes.c_void_p),
        ("suboffsets", ctypes.c_void_p), ("internal", ctypes.c_void_p),
    ]


def buffer_address(obj):
    """The address of obj's exported buffer (PyObject_GetBuffer, then release)."""
    view = _PyBuffer()
    get = ctypes.pythonapi.PyObject_GetBuffer
    get.argtypes = [ctypes.py_object, ctypes.POINTER(_PyBuffer), ctypes.c_int]
    release = ctypes.pythonapi.PyBuffer_Release
    release.argtypes = [ctypes.POINTER(_PyBuffer)]
    assert get(obj, ctypes.byref(view), 0) == 0
    try:
        return view.buf
    finally:
        release(ctypes.byref(view))


def test_memoryview_exports_the_payload_itself(store):
    """memoryview(event.data) is a read-only view whose .obj is the event's own Payload."""
    store.append("s-1", [NewEvent("A", b"hello world")])
    [event] = store.read_stream("s-1")
    view = memoryview(event.data)
    assert view.obj is event.data
    assert view.readonly
    assert view.tobytes() == b"hello world"
    assert view[6:].tobytes() == b"world"
    with pytest.raises(TypeError):
        view[0] = 1
    with pytest.raises(TypeError):
        ctypes.c_char.from_buffer(event.data)


def test_two_reads_share_one_buffer(store):
    """Two separate reads of an event export the same memory: nothing was copied per read."""
    store.append("s-1", [NewEvent("A", b"x" * 4096)])
    [first] = store.read_stream("s-1")
    [second] = store.read_all()
    assert first.data is not second.data
    address = buffer_address(first.data)
    assert address == buffer_address(second.data)
    assert address == buffer_address(memoryview(first.data))
    sub = store.subscribe()
    assert buffer_address(sub.next(timeout=1).data) == address


def test_log_payload_is_zero_copy(log):
    """Raw log payloads read twice share one buffer too."""
    log.append(b"y" * 1000)
    assert buffer_address(log.read(0).payload) == buffer_address(next(iter(log.read_from())).payload)


def test_payload_behaves_like_bytes(store):
    """A Payload compares, hashes, measures, decodes and converts like bytes."""
    store.append("s-1", [NewEvent("A", "héllo".encode(), metadata=b"")])
    [event] = store.read_stream("s-1")
    assert len(event.data) == 6
    assert event.data == "héllo".encode()
    assert event.data == bytearray("héllo".encode())
    assert event.data != b"other"
    assert event.data != 5
    assert hash(event.data) == hash("héllo".encode())
    assert event.data.decode() == "héllo"
    assert event.data.tobytes() == bytes(event.data)
    assert len(event.metadata) == 0
    assert "Payload" in repr(event.data)
    store.append("s-2", [NewEvent("B", event.data)])
    assert next(iter(store.read_stream("s-2"))).data == event.data
