"""The compression benchmark at a tiny size, so it cannot rot unnoticed: `python -m bench
compression` measures every codec in process and through the embedded broker, and both client
libraries read every record back. Ratios and CPU are for `make bench`, never for tests.
"""

from __future__ import annotations

from pathlib import Path

from tests.bench.running import run_bench

RECORDS = 1000


def test_compression_benchmark_reads_every_codec_back_and_writes_its_figures(
    tmp_path: Path,
) -> None:
    done, figures = run_bench(
        "compression", tmp_path,
        "--compression-records", str(RECORDS),
        "--compression-batches", "1,100",
        "--compression-rate", "5000",
        timeout_s=120,
    )  # fmt: skip
    codecs = ["none", "lz4", "zstd", "snappy", "gzip"]
    assert [b["codec"] for b in figures["in_process"]] == codecs * 2
    # Bigger batches compress better: the reason a batch's size is part of the measurement.
    ratio = {(b["codec"], b["records_per_batch"]): b["ratio"] for b in figures["in_process"]}
    assert all(ratio[codec, 100] > ratio[codec, 1] > 1 for codec in codecs[1:])
    runs = figures["broker"]["runs"]
    assert [r["codec"] for r in runs] == codecs
    for run in runs:
        assert run["read_back"] == {"librdkafka": True, "aiokafka": True}, run["codec"]
        assert run["records"] == RECORDS
    # What the broker sent back is what was produced: it keeps the batches compressed.
    none, lz4 = runs[0], runs[1]
    assert lz4["fetched_bytes_per_record"] < none["fetched_bytes_per_record"] / 1.5
    assert "read back" in done.stdout
