"""Type hints for the annal package (the native module annal._annal)."""

import os
import pathlib
import uuid
from datetime import datetime
from collections.abc import Iterable, Iterator, Sequence
from types import TracebackType
from typing import ClassVar, Literal, Self, final

_BytesLike = bytes | bytearray | memoryview | Payload
_Name = str | bytes
_PathLike = str | os.PathLike[str]

EVENT_BYTES_MAX: int
BATCH_EVENTS_MAX: int
BATCH_BYTES_MAX: int
STREAM_NAME_BYTES_MAX: int
EVENT_TYPE_BYTES_MAX: int
CONSUMER_NAME_BYTES_MAX: int
SUBSCRIPTIONS_MAX: int
CONSUMERS_MAX: int
SEGMENT_BYTES_MIN: int
SEGMENT_BYTES_MAX: int
IDEMPOTENCY_WINDOW_EVENTS: int

class Error(Exception):
    """Base class of every engine error; `code` is its stable numeric code."""
    code: int | None

class IoError(Error): ...
class NoSpace(Error): ...
class Corrupt(Error):
    path: pathlib.Path
    offset: int

class Poisoned(Error): ...
class Locked(Error): ...
class LimitExceeded(Error):
    limit: str
    value: int
    max: int

class EmptyBatch(Error): ...
class PositionOutOfRange(Error):
    position: int
    first: int
    next: int

class InvalidOptions(Error): ...
class Closed(Error): ...
class WrongExpectedRevision(Error):
    stream: str
    expected: ExpectedRevision
    actual: int | None

class StreamDeleted(Error):
    stream: str

class StreamNotFound(Error):
    stream: str

class IdempotencyConflict(Error):
    stream: str

class InvalidArgument(Error): ...
class UnknownConsumer(Error):
    name: str

class ConsumerExists(Error):
    name: str

class InvalidConsumerName(Error):
    name: str

class TooManySubscriptions(Error): ...
class TooManyConsumers(Error): ...
class BehindRetention(Error): ...
class CheckpointRegression(Error):
    name: str
class IoUringUnavailable(Error): ...
class ReadOnly(Error): ...


@final
class Durability:
    BUFFERED: ClassVar[Durability]
    WRITTEN: ClassVar[Durability]
    SYNCED: ClassVar[Durability]

@final
class Direction:
    FORWARDS: ClassVar[Direction]
    BACKWARDS: ClassVar[Direction]

@final
class Visibility:
    WRITTEN: ClassVar[Visibility]
    SYNCED: ClassVar[Visibility]

@final
class IoPath:
    AUTO: ClassVar[IoPath]
    IO_URING: ClassVar[IoPath]
    PWRITE: ClassVar[IoPath]

@final
class ExpectedRevision:
    @staticmethod
    def exact(revision: int) -> ExpectedRevision: ...

ANY: ExpectedRevision
NO_STREAM: ExpectedRevision
STREAM_EXISTS: ExpectedRevision

@final
class Start: ...

BEGINNING: Start
END: Start

_Expected = ExpectedRevision | int
_StartAt = Start | int

@final
class Payload:
    """Read-only event bytes shared with the log; supports the buffer protocol."""
    # The buffer protocol, spelled as Python 3.12 types it (stubtest allowlists it).
    def __buffer__(self, flags: int, /) -> memoryview: ...
    def __len__(self) -> int: ...
    def __bytes__(self) -> bytes: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...
    def tobytes(self) -> bytes: ...
    def decode(self) -> str: ...

@final
class NewEvent:
    def __new__(
        cls,
        event_type: _Name,
        data: _BytesLike | None = None,
        *,
        id: _BytesLike | uuid.UUID | None = None,
        metadata: _BytesLike | None = None,
    ) -> NewEvent: ...
    @property
    def event_type(self) -> str: ...
    @property
    def data(self) -> Payload: ...
    @property
    def metadata(self) -> Payload: ...
    @property
    def id(self) -> bytes | None: ...

@final
class RecordedEvent:
    @property
    def stream(self) -> str: ...
    @property
    def stream_bytes(self) -> bytes: ...
    @property
    def event_type_bytes(self) -> bytes: ...
    @property
    def revision(self) -> int: ...
    @property
    def position(self) -> int: ...
    @property
    def timestamp_ns(self) -> int: ...
    @property
    def event_type(self) -> str: ...
    @property
    def id(self) -> bytes | None: ...
    @property
    def data(self) -> Payload: ...
    @property
    def metadata(self) -> Payload: ...

@final
class WriteResult:
    first_revision: int
    last_revision: int
    first_position: int
    last_position: int

@final
class StreamHandle:
    """A handle on one stream of one EventStore (`store.stream_handle(name)`), for
    `store.append_to(handle, events)`; only the store that made it accepts it."""
    @property
    def name(self) -> str: ...
    @property
    def name_bytes(self) -> bytes: ...

@final
class StreamInfo:
    revision: int | None
    truncate_before: int
    deleted: bool

@final
class EventIterator(Iterator[RecordedEvent]):
    def __iter__(self) -> Self: ...
    def __next__(self) -> RecordedEvent: ...

@final
class Subscription(Iterator[RecordedEvent]):
    def next(self, timeout: float | None = None) -> RecordedEvent | None: ...
    def try_next(self) -> RecordedEvent | None: ...
    @property
    def position(self) -> int: ...
    def close(self) -> None: ...
    def __iter__(self) -> Self: ...
    def __next__(self) -> RecordedEvent: ...
    def __enter__(self) -> Self: ...
    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> Literal[False]: ...

@final
class EventStore:
    @staticmethod
    def open(
        path: _PathLike,
        *,
        segment_bytes: int | None = None,
        verify_reads: bool | None = None,
        recovery: Literal["strict", "truncate_at_damage"] | None = None,
        index_checkpoint_events: int | None = None,
        read_only: bool = False,
        io_path: IoPath = ...,
    ) -> EventStore: ...
    def append(
        self,
        stream: _Name,
        events: NewEvent | Iterable[NewEvent | tuple[_Name, _BytesLike]],
        *,
        expected: _Expected | None = None,
        durability: Durability = ...,
    ) -> WriteResult: ...
    def stream_handle(self, stream: _Name) -> StreamHandle: ...
    def append_to(
        self,
        handle: StreamHandle,
        events: NewEvent | Iterable[NewEvent | tuple[_Name, _BytesLike]],
        *,
        expected: _Expected | None = None,
        durability: Durability = ...,
    ) -> WriteResult: ...
    def append_multi(
        self,
        appends: Iterable[
            tuple[_Name, Iterable[NewEvent | tuple[_Name, _BytesLike]]]
            | tuple[_Name, Iterable[NewEvent | tuple[_Name, _BytesLike]], _Expected]
        ],
        *,
        durability: Durability = ...,
    ) -> list[WriteResult]: ...
    def read_stream(
        self,
        stream: _Name,
        start: int | None = None,
        *,
        direction: Direction = ...,
        max_count: int | None = None,
        as_of: int | None = None,
        as_of_time_ns: int | None = None,
        as_of_time: datetime | None = None,
    ) -> EventIterator: ...
    def read_stream_last(self, stream: _Name, count: int) -> list[RecordedEvent]: ...
    def read_category(
        self, category: _Name, start: int | None = None, *, direction: Direction = ...,
        max_count: int | None = None,
    ) -> EventIterator: ...
    def read_all(
        self, start: int | None = None, *, direction: Direction = ..., max_count: int | None = None,
    ) -> EventIterator: ...
    def position_after_time(self, time_ns: int) -> int: ...
    def position_after(self, time: datetime) -> int: ...
    def create_consumer(self, name: str, start: _StartAt | None = None) -> StoreConsumer: ...
    def consumer(self, name: str) -> StoreConsumer: ...
    def consumers(self) -> list[ConsumerInfo]: ...
    def delete_consumer(self, name: str) -> None: ...
    def truncate_before(self, position: int, *, force: bool = False) -> int: ...
    @property
    def first_position(self) -> int: ...
    @property
    def io_path(self) -> IoPath: ...
    def recovery_report(self) -> RecoveryReport: ...
    def index_recovery(self) -> IndexRecovery: ...
    def metrics(self) -> Metrics: ...
    def index_memory(self) -> IndexMemory: ...
    def stream_info(self, stream: _Name) -> StreamInfo: ...
    def stream_revision(self, stream: _Name) -> int | None: ...
    def truncate_stream(self, stream: _Name, before: int) -> None: ...
    def delete_stream(self, stream: _Name) -> None: ...
    def subscribe(
        self,
        start: _StartAt | None = None,
        *,
        category: _Name | None = None,
        event_type: _Name | None = None,
        stream_prefix: _Name | None = None,
        visibility: Visibility = ...,
    ) -> Subscription: ...
    def flush(self) -> None: ...
    def checkpoint(self) -> None: ...
    @property
    def next_position(self) -> int: ...
    @property
    def closed(self) -> bool: ...
    @property
    def path(self) -> pathlib.Path: ...
    def close(self) -> None: ...
    def __enter__(self) -> Self: ...
    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> Literal[False]: ...

@final
class LogEvent:
    @property
    def position(self) -> int: ...
    @property
    def payload(self) -> Payload: ...

@final
class Appended:
    first: int
    last: int

@final
class LogReader(Iterator[LogEvent]):
    def __iter__(self) -> Self: ...
    def __next__(self) -> LogEvent: ...

@final
class LogSubscription(Iterator[LogEvent]):
    def next(self, timeout: float | None = None) -> LogEvent | None: ...
    def try_next(self) -> LogEvent | None: ...
    @property
    def position(self) -> int: ...
    def close(self) -> None: ...
    def __iter__(self) -> Self: ...
    def __next__(self) -> LogEvent: ...
    def __enter__(self) -> Self: ...
    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> Literal[False]: ...

@final
class ConsumerInfo:
    name: str
    checkpoint: int

@final
class Consumer:
    @property
    def name(self) -> str: ...
    @property
    def checkpoint(self) -> int: ...
    def subscribe(self, *, visibility: Visibility = ...) -> LogSubscription: ...
    def commit(self, position: int) -> None: ...
    def append_and_commit(
        self, events: Sequence[_BytesLike], position: int, durability: Durability = ...,
    ) -> Appended: ...

@final
class StoreConsumer:
    @property
    def name(self) -> str: ...
    @property
    def checkpoint(self) -> int: ...
    def subscribe(
        self,
        *,
        category: _Name | None = None,
        event_type: _Name | None = None,
        stream_prefix: _Name | None = None,
        visibility: Visibility = ...,
    ) -> Subscription: ...
    def commit(self, position: int) -> None: ...
    def append_and_commit(
        self,
        appends: Iterable[
            tuple[_Name, Iterable[NewEvent | tuple[_Name, _BytesLike]]]
            | tuple[_Name, Iterable[NewEvent | tuple[_Name, _BytesLike]], _Expected]
        ],
        position: int,
        *,
        durability: Durability = ...,
    ) -> list[WriteResult]: ...

@final
class RecoveryAction:
    kind: Literal["cut", "removed", "other"]
    reason: Literal["torn_tail", "damage", "after_cut", "other"]
    detail: str | None
    segment: pathlib.Path | None
    offset: int | None
    bytes_cut: int | None
    records_cut: int | None
    quarantine: pathlib.Path | None
    text: str

@final
class IndexRecovery:
    loaded: bool
    replayed_from: int | None
    reason: str | None

@final
class Metrics:
    appends: int
    events: int
    record_bytes: int
    payload_bytes: int
    group_syncs: int
    rolls: int
    located_reads: int
    located_read_bytes: int
    located_read_pages: int

@final
class IndexMemory:
    heap_bytes: int
    streams: int

@final
class RecoveryReport:
    @property
    def actions(self) -> list[RecoveryAction]: ...
    @property
    def clean(self) -> bool: ...
    @property
    def segments_scanned(self) -> int: ...
    @property
    def io_path(self) -> IoPath: ...
    @property
    def index(self) -> IndexRecovery | None: ...

@final
class Log:
    @staticmethod
    def open(
        path: _PathLike,
        *,
        segment_bytes: int | None = None,
        verify_reads: bool | None = None,
        recovery: Literal["strict", "truncate_at_damage"] | None = None,
        read_only: bool = False,
        io_path: IoPath = ...,
    ) -> Log: ...
    def refresh(self) -> None: ...
    def append(self, data: _BytesLike, durability: Durability = ...) -> Appended: ...
    def append_batch(self, events: Iterable[_BytesLike], durability: Durability = ...) -> Appended: ...
    def flush(self) -> None: ...
    def sync(self) -> None: ...
    def read(self, position: int) -> LogEvent: ...
    def read_from(self, position: int | None = None) -> LogReader: ...
    def subscribe(self, start: _StartAt | None = None, *,
                  visibility: Visibility = ...) -> LogSubscription: ...
    def truncate_before(self, position: int) -> int: ...
    @property
    def first_position(self) -> int: ...
    @property
    def next_position(self) -> int: ...
    @property
    def last_written(self) -> int | None: ...
    @property
    def last_synced(self) -> int | None: ...
    @property
    def poisoned(self) -> bool: ...
    @property
    def io_path(self) -> IoPath: ...
    def recovery_report(self) -> RecoveryReport: ...
    def metrics(self) -> Metrics: ...
    @property
    def closed(self) -> bool: ...
    @property
    def path(self) -> pathlib.Path: ...
    def create_consumer(self, name: str, start: _StartAt | None = None) -> Consumer: ...
    def consumer(self, name: str) -> Consumer: ...
    def consumers(self) -> list[ConsumerInfo]: ...
    def delete_consumer(self, name: str) -> None: ...
    def flush_consumers(self) -> None: ...
    def close(self) -> None: ...
    def __enter__(self) -> Self: ...
    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> Literal[False]: ...
