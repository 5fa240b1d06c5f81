"""Record batches of attempts compressed in this process, as librdkafka and aiokafka do it.

A Kafka record batch (v2) is a 61-byte header followed by its records; with a codec, the
records are compressed as one block and the header is not. So the bytes a batch takes on the
wire and in the broker are 61 + the codec's output on the records section, which aiokafka's
own batch builder writes here without compression. Compression is per batch, and a batch
holds one partition's records of one linger window: its size, not the codec alone, sets the
ratio.

The codecs run at the levels librdkafka uses when `compression.level` is unset (lz4 0, zstd 3,
gzip 6; lz4 as independent 64 KiB blocks, snappy raw), through cramjam, the library aiokafka
decompresses with: the same algorithms as librdkafka's bundled C libraries, not the same
build. Decompression is aiokafka's own (`aiokafka.codec`), as the log-writer runs it.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cramjam
from aiokafka import codec as aiokafka_codec
from aiokafka.record.default_records import DefaultRecordBatchBuilder

HEADER_BYTES = 61  # a v2 record batch's header, never compressed
_TIMESTAMP_MS = 1_790_000_000_000


def _lz4(records: bytes) -> bytes:
    compressor = cramjam.lz4.Compressor(level=0, content_checksum=False, block_linked=False)
    compressor.compress(records)
    return bytes(compressor.finish())


def _gzip(records: bytes) -> bytes:
    deflate = zlib.compressobj(6, zlib.DEFLATED, 31)  # 31: a gzip wrapper, as librdkafka writes
    return deflate.compress(records) + deflate.flush()


Codec = tuple[Callable[[bytes], bytes], Callable[[bytes], bytes]]  # (compress, decompress)

CODECS: dict[str, Codec] = {
    "none": (bytes, bytes),
    "lz4": (_lz4, aiokafka_codec.lz4_decode),
    "zstd": (lambda b: bytes(cramjam.zstd.compress(b, level=3)), aiokafka_codec.zstd_decode),
    "snappy": (lambda b: bytes(cramjam.snappy.compress_raw(b)), aiokafka_codec.snappy_decode),
    "gzip": (_gzip, aiokafka_codec.gzip_decode),
}


@dataclass(frozen=True)
class BatchFigures:
    codec: str
    records_per_batch: int
    batches: int
    raw_bytes: int  # the batches uncompressed, headers included
    wire_bytes: int  # the same batches compressed, headers included
    compress_us_per_record: float  # CPU
    decompress_us_per_record: float  # CPU

    @property
    def ratio(self) -> float:
        return self.raw_bytes / self.wire_bytes


def records_sections(rows: Sequence[tuple[bytes, bytes]], per_batch: int) -> list[bytes]:
    """The records section of each batch of `per_batch` (key, value) rows, uncompressed."""
    sections = []
    for start in range(0, len(rows), per_batch):
        builder = DefaultRecordBatchBuilder(
            magic=2,
            compression_type=0,
            is_transactional=False,
            producer_id=-1,
            producer_epoch=-1,
            base_sequence=-1,
            batch_size=2**31 - 1,
        )
        for offset, (key, value) in enumerate(rows[start : start + per_batch]):
            builder.append(
                offset, timestamp=_TIMESTAMP_MS + offset, key=key, value=value, headers=[]
            )
        sections.append(bytes(builder.build())[HEADER_BYTES:])
    return sections


def measure(codec: str, sections: list[bytes], per_batch: int, records: int) -> BatchFigures:
    compress, decompress = CODECS[codec]
    started = time.process_time()
    compressed = [compress(section) for section in sections]
    compress_s = time.process_time() - started
    started = time.process_time()
    for block in compressed:
        decompress(block)
    decompress_s = time.process_time() - started
    if codec != "none" and decompress(compressed[0]) != sections[0]:
        raise AssertionError(f"{codec}: a batch does not decompress to its records")
    header = HEADER_BYTES * len(sections)
    return BatchFigures(
        codec=codec,
        records_per_batch=per_batch,
        batches=len(sections),
        raw_bytes=header + sum(map(len, sections)),
        wire_bytes=header + sum(map(len, compressed)),
        compress_us_per_record=compress_s * 1e6 / records if codec != "none" else 0.0,
        decompress_us_per_record=decompress_s * 1e6 / records if codec != "none" else 0.0,
    )
