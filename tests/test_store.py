"""busflow.store: arrays written batch by batch to an .npz, read back batch by batch from disk."""

import os
import resource

import numpy as np
import pytest

from busflow import store
from busflow.runtime.progress import Progress, format_seconds
from busflow.store import NpzWriter, Rows, concat_rows, open_npz, take


def write_batches(path, values: np.ndarray, batch: int, small=None) -> None:
    writer = NpzWriter(path, {"x": (values.shape, values.dtype)})
    for start in range(0, len(values), batch):
        writer.write("x", start, values[start : start + batch])
    writer.close(small)


def test_round_trip_batch_by_batch(tmp_path):
    values = np.random.default_rng(0).normal(size=(300, 7, 7, 64)).astype(np.float32)
    labels = np.arange(300) % 2
    write_batches(tmp_path / "f.npz", values, 32, {"labels": labels, "ids": np.array(["a"] * 300)})
    with np.load(tmp_path / "f.npz", allow_pickle=False) as plain:  # NumPy alone reads it
        np.testing.assert_array_equal(plain["x"], values)
    arrays = open_npz(tmp_path / "f.npz")
    rows = arrays["x"]
    assert isinstance(rows, Rows) and rows.shape == values.shape and rows.dtype == values.dtype
    assert isinstance(arrays["labels"], np.ndarray)  # small arrays are loaded
    np.testing.assert_array_equal(arrays["labels"], labels)
    order = np.random.default_rng(1).permutation(300)
    np.testing.assert_array_equal(rows[order[:40]], values[order[:40]])
    np.testing.assert_array_equal(rows[5], values[5])
    np.testing.assert_array_equal(rows[10:20], values[10:20])
    np.testing.assert_array_equal(np.asarray(rows), values)
    mask = labels == 1
    np.testing.assert_array_equal(take(rows, mask)[[0, -1]], values[mask][[0, -1]])
    read = np.concatenate([batch for _, batch in rows.batches(64)])
    np.testing.assert_array_equal(read, values)
    assert not [p for p in os.listdir(tmp_path) if p != "f.npz"]  # no temporary left


def test_rows_over_several_files_and_an_empty_array(tmp_path):
    parts = [np.full((n, 300, 300), i, np.uint8) for i, n in enumerate([3, 0, 5])]
    for i, values in enumerate(parts):
        write_batches(tmp_path / f"{i}.npz", values, 2)
    opened = [open_npz(tmp_path / f"{i}.npz", lazy_bytes=0)["x"] for i in range(3)]
    joined = concat_rows(opened)
    assert isinstance(joined, Rows) and len(joined) == 8
    np.testing.assert_array_equal(joined[[7, 0, 3]][:, 0, 0], [2, 0, 2])


def test_reading_a_batch_reads_only_its_rows(tmp_path, monkeypatch):
    """Opening reads no data, and a batch of rows reads those rows' bytes alone."""
    values = np.random.default_rng(0).integers(0, 255, (400, 224, 224), dtype=np.uint8)
    write_batches(tmp_path / "s.npz", values, 50)
    read = []
    real_pread = os.pread
    monkeypatch.setattr(
        store.os, "pread", lambda fd, n, at: read.append(n) or real_pread(fd, n, at)
    )
    rows = open_npz(tmp_path / "s.npz")["x"]
    assert read == []
    np.testing.assert_array_equal(rows[[399, 3]], values[[399, 3]])
    assert sum(read) == 2 * 224 * 224


def test_writing_and_reading_do_not_hold_the_file_in_memory(tmp_path):
    """400 MB written and read back in 4 MB batches raise the peak RSS far less than 400 MB."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    shape, batch = (1600, 256, 1024), np.ones((16, 256, 1024), np.uint8)
    writer = NpzWriter(tmp_path / "big.npz", {"x": (shape, np.uint8)})
    for start in range(0, shape[0], 16):
        writer.write("x", start, batch)
    writer.close()
    total = sum(int(b.sum()) for _, b in open_npz(tmp_path / "big.npz")["x"].batches(16))
    assert total == np.prod(shape)
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before
    assert grown < 100e6


def test_float16_storage_error_is_within_half_a_unit_in_the_last_place():
    """Block outputs are stored as float16: relative error at most 2**-11 in float16's normal
    range (VGG16 activations are >= 0 and far below 65504)."""
    values = np.random.default_rng(0).gamma(0.5, 20.0, 100_000).astype(np.float32)
    values = values[values > 2**-14]
    stored = values.astype(np.float16).astype(np.float32)
    assert np.max(np.abs(stored - values) / values) <= 2**-11


def test_progress_lines_show_done_rate_and_time_left():
    lines = []
    progress = Progress("features train", 100, log=lines.append, every=0.0)
    progress.update(50)
    progress.update(100)
    progress.update(100)
    assert len(lines) == 2
    assert lines[0].startswith("features train: 50/100 samples (") and "left)" in lines[0]
    assert lines[1].endswith("done)")
    quiet = Progress("epoch 1/2", 10, log=lines.append, every=3600.0, final=False)
    quiet.update(10)
    assert len(lines) == 2  # a short epoch: its own line says it ended
    assert format_seconds(3725) == "1h02m" and format_seconds(65) == "1m05s"


def test_rows_reject_a_member_that_is_not_there(tmp_path):
    write_batches(tmp_path / "f.npz", np.zeros((4, 2), np.float32), 2)
    with pytest.raises(KeyError):
        open_npz(tmp_path / "f.npz")["missing"]
