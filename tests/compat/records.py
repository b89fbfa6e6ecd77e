"""The record shape every client helper speaks, and checks on what a consumer read.

Each client (confluent-kafka, kafka-python, kcat, the Java console tools) reads back
a list of `Record`s with partition and offset, so one set of assertions serves every
writer/reader pair.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Record:
    """One Kafka record as a client sent or received it."""

    value: bytes
    key: bytes | None = None
    headers: tuple[tuple[str, bytes], ...] = ()
    partition: int = -1
    offset: int = -1
    timestamp_ms: int | None = field(default=None, compare=False)

    def content(self) -> tuple[bytes | None, bytes, tuple[tuple[str, bytes], ...]]:
        """What the producer chose: key, value and headers (not where it landed)."""
        return (self.key, self.value, self.headers)


def sample_records(
    count: int, tag: str, headers: tuple[tuple[str, bytes], ...] = ()
) -> list[Record]:
    """`count` keyed records with printable, tab-free, unique values.

    Keys repeat (8 distinct) so per-key order can be checked across partitions.
    Text only, because the console tools and kcat are line based.
    """
    return [
        Record(
            key=f"key-{i % 8}".encode(),
            value=f"{tag}-value-{i:05d}".encode(),
            headers=headers,
        )
        for i in range(count)
    ]


def assert_dense_offsets(received: list[Record]) -> None:
    """Offsets in each partition are exactly 0..n-1, each once."""
    by_partition: dict[int, list[int]] = defaultdict(list)
    for record in received:
        by_partition[record.partition].append(record.offset)
    for partition, offsets in by_partition.items():
        assert sorted(offsets) == list(range(len(offsets))), (
            f"partition {partition}: offsets not dense from 0: {sorted(offsets)[:20]}..."
        )


def assert_same_records(sent: list[Record], received: list[Record]) -> None:
    """Every sent record was received once, keys/values/headers intact, and the
    records of each key kept their send order (one key maps to one partition)."""
    assert sorted(r.content() for r in received) == sorted(r.content() for r in sent)
    sent_order: dict[bytes | None, list[bytes]] = defaultdict(list)
    for record in sent:
        sent_order[record.key].append(record.value)
    received_order: dict[bytes | None, list[bytes]] = defaultdict(list)
    for record in sorted(received, key=lambda r: (r.partition, r.offset)):
        received_order[record.key].append(record.value)
    assert received_order == sent_order


def assert_round_trip(sent: list[Record], received: list[Record]) -> None:
    """The full check of a writer/reader pair: content, per-key order, dense offsets."""
    assert_same_records(sent, received)
    assert_dense_offsets(received)
