"""Out-of-core arrays: .npz files (uncompressed, so NumPy alone still reads them) that are written
one batch at a time and read back one batch at a time, so no job holds a whole split in memory.

``NpzWriter`` fills each large array in a temporary .npy (``np.lib.format.open_memmap``) batch by
batch, then copies them into the .npz in 1 MB chunks and renames it into place (atomic: a killed
job never leaves a file a later run would trust). ``open_npz`` finds each member's raw bytes inside
the zip and returns large arrays as ``Rows``, which read only the rows asked for with ``os.pread``:
unlike a memory map, rows read this way do not stay in the process's resident memory, so the peak
RSS that SLURM accounts does not grow with the file.
"""

import mmap
import os
import shutil
import struct
import tempfile
import zipfile
from pathlib import Path

import numpy as np

# Members larger than this are read lazily (Rows); smaller ones (labels, ids) are loaded.
LAZY_BYTES = 1 << 20
COPY_CHUNK = 1 << 20


class Rows:
    """Rows of one or more arrays stored on disk, read on demand. ``rows[i]`` (int, slice, int or
    bool array) reads and returns an ndarray; ``subset`` makes a lazy selection; ``np.asarray``
    reads everything (only for small data and tests)."""

    def __init__(self, parts, index=None):
        # parts: (path, byte offset, shape, dtype) of row-major arrays with equal row shapes.
        self.parts = list(parts)
        self.row_shape = tuple(self.parts[0][2][1:]) if self.parts else ()
        self.dtype = np.dtype(self.parts[0][3]) if self.parts else np.dtype("float32")
        self.row_bytes = int(np.prod(self.row_shape, dtype=np.int64)) * self.dtype.itemsize
        sizes = [shape[0] for _, _, shape, _ in self.parts]
        self.starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self.index = np.arange(self.starts[-1]) if index is None else np.asarray(index, np.int64)

    def __len__(self) -> int:
        return len(self.index)

    @property
    def shape(self) -> tuple:
        return (len(self), *self.row_shape)

    @property
    def ndim(self) -> int:
        return 1 + len(self.row_shape)

    @property
    def nbytes(self) -> int:
        return len(self) * self.row_bytes

    def subset(self, selection) -> "Rows":
        return Rows(self.parts, self.index[selection])

    def __getitem__(self, selection) -> np.ndarray:
        if isinstance(selection, (int, np.integer)):
            return self._read(self.index[[selection]])[0]
        return self._read(np.atleast_1d(self.index[selection]))

    def __array__(self, dtype=None, copy=None):
        values = self._read(self.index)
        return values if dtype is None else values.astype(dtype)

    def batches(self, size: int):
        """(positions, rows) of consecutive batches of ``size`` rows."""
        return batches(self, size)

    def _read(self, rows: np.ndarray) -> np.ndarray:
        out = np.empty((len(rows), *self.row_shape), self.dtype)
        flat = out.reshape(len(rows), -1).view(np.uint8) if len(rows) else None
        part_of = np.searchsorted(self.starts, rows, side="right") - 1
        handles = {}
        try:
            for i, (row, part) in enumerate(zip(rows, part_of)):
                path, offset = self.parts[part][0], self.parts[part][1]
                if part not in handles:
                    handles[part] = os.open(path, os.O_RDONLY)
                position = offset + int(row - self.starts[part]) * self.row_bytes
                flat[i] = np.frombuffer(os.pread(handles[part], self.row_bytes, position), np.uint8)
        finally:
            for handle in handles.values():
                os.close(handle)
        return out


def concat_rows(arrays) -> "Rows | np.ndarray":
    """One Rows over several (shards' images); plain ndarrays are concatenated."""
    arrays = list(arrays)
    if arrays and all(isinstance(a, Rows) and a.index.size == a.starts[-1] for a in arrays):
        return Rows([part for a in arrays for part in a.parts])
    return np.concatenate([np.asarray(a) for a in arrays])


def batches(values, size: int):
    """(positions, rows) of consecutive batches of an array or of Rows."""
    for start in range(0, len(values), size):
        positions = np.arange(start, min(start + size, len(values)))
        yield positions, np.asarray(values[positions])


def take(values, selection):
    """values[selection], lazy for Rows (k-fold selects a role's samples from the pool)."""
    return values.subset(selection) if isinstance(values, Rows) else values[selection]


def _member_offsets(path) -> dict:
    """Each stored (uncompressed) .npy member of a zip: (data offset, shape, dtype, bytes)."""
    found = {}
    with zipfile.ZipFile(path) as archive, open(path, "rb") as raw:
        for info in archive.infolist():
            if info.compress_type != zipfile.ZIP_STORED or not info.filename.endswith(".npy"):
                continue
            raw.seek(info.header_offset)
            local = struct.unpack("<4s5H3I2H", raw.read(30))
            raw.seek(info.header_offset + 30 + local[-2] + local[-1])
            version = np.lib.format.read_magic(raw)
            read_header = (
                np.lib.format.read_array_header_1_0
                if version == (1, 0)
                else np.lib.format.read_array_header_2_0
            )
            shape, fortran, dtype = read_header(raw)
            if not fortran and not dtype.hasobject:
                found[info.filename[:-4]] = (raw.tell(), shape, dtype, info.file_size)
    return found


def open_npz(path, lazy_bytes: int | None = None) -> dict:
    """Every array of an .npz: members over ``lazy_bytes`` (with at least one dimension) as Rows,
    the rest loaded. A compressed .npz (np.savez_compressed) is loaded whole."""
    lazy_bytes = LAZY_BYTES if lazy_bytes is None else lazy_bytes
    offsets = _member_offsets(path)
    arrays = {}
    with np.load(path, allow_pickle=False) as stored:
        for key in stored.files:
            where = offsets.get(key)
            if where and len(where[1]) >= 1 and where[3] > lazy_bytes:
                arrays[key] = Rows([(str(path), where[0], where[1], where[2])])
            else:
                arrays[key] = stored[key]
    return arrays


class NpzWriter:
    """An .npz written batch by batch: ``NpzWriter(path, {key: (shape, dtype)})``, then
    ``write(key, start, values)`` as batches arrive, then ``close(small arrays)``."""

    def __init__(self, path, layout: dict):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.folder = tempfile.mkdtemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        # An empty array cannot be memory-mapped; it is written with the small ones.
        self.empty = {
            key: np.zeros(shape, dtype) for key, (shape, dtype) in layout.items() if 0 in shape
        }
        self.arrays = {
            key: np.lib.format.open_memmap(
                os.path.join(self.folder, f"{key}.npy"), "w+", np.dtype(dtype), tuple(shape)
            )
            for key, (shape, dtype) in layout.items()
            if key not in self.empty
        }

    def write(self, key: str, start: int, values) -> None:
        target = self.arrays[key]
        target[start : start + len(values)] = values
        # Flushed pages are dropped from this process's resident memory (they stay in the file and
        # the page cache), so the writer's RSS does not grow with the file.
        target.flush()
        if hasattr(mmap, "MADV_DONTNEED"):
            target._mmap.madvise(mmap.MADV_DONTNEED)

    def close(self, small: dict | None = None) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
                for key, values in self.arrays.items():
                    values.flush()
                    with (
                        open(values.filename, "rb") as source,
                        archive.open(f"{key}.npy", "w", force_zip64=True) as target,
                    ):
                        shutil.copyfileobj(source, target, COPY_CHUNK)
                for key, values in {**self.empty, **(small or {})}.items():
                    with archive.open(f"{key}.npy", "w", force_zip64=True) as target:
                        np.lib.format.write_array(target, np.asarray(values), allow_pickle=False)
            os.replace(tmp, self.path)
        finally:
            self.arrays = {}
            shutil.rmtree(self.folder, ignore_errors=True)
            tmp.unlink(missing_ok=True)

    def abort(self) -> None:
        self.arrays = {}
        shutil.rmtree(self.folder, ignore_errors=True)
