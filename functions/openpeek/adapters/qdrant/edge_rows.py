"""The float32 rows Qdrant Edge stores for the dense vectors of a write, computed from the vectors written.

Why: the vector sidecar (edge_vectors.py) must hold exactly Edge's numbers. Reading every written point back from
Edge as Python lists and converting them cost more than Edge's own update; computing the rows here costs a fraction
of it. Edge stores a dense vector as float32 (`f64 as f32`, what numpy's cast does too), and a cosine index's vector
normalised by Qdrant's `CosineMetric::preprocess` (lib/segment/src/spaces/simple.rs, simple_{avx,sse,neon}.rs), which
this module repeats operation by operation, in the same order, so that the result is the same bit for bit:

- the sum of squares: on x86-64 with AVX and FMA and at least 32 dimensions, 4 registers of 8 lanes take
  `acc = fma(x, x, acc)` over each block of 32 values, then `(r0 + r1) + (r2 + r3)`, the high half of the 8 lanes
  plus the low half, `(l0 + l1) + (l2 + l3)`; on x86 from 16 dimensions (SSE), 4 registers of 4 lanes take
  `acc = x * x + acc` (two roundings), each register summed `(l0 + l2) + (l1 + l3)` and the registers added in order;
  on aarch64 from 16 dimensions (NEON), 4 registers of 4 lanes with FMA, `(r0 + r1) + (r2 + r3)`, then
  `(l0 + l1) + (l2 + l3)`; otherwise (and for the values after the last whole block) one value after the other,
  `length += x * x`;
- a length below f32::EPSILON or within 1e-6 of 1 leaves the vector as it is; otherwise the AVX and NEON kernels
  multiply each value by `1 / sqrt(length)` (qdrant-edge-py 0.9.0: the "SIMD-accelerated L2 normalization"), the
  others divide it by `sqrt(length)`.

The scalar, SSE and AVX kernels were checked bit for bit against qdrant-edge-py 0.9.0 on x86-64
(tests/contract/test_edge_vector_sidecar.py); NEON follows Qdrant's source and was not run here.

Float32 additions, products, square roots and divisions are IEEE operations in numpy as in Rust. A fused
multiply-add rounds once: here the product (exact in float64) plus the accumulator is rounded to float64, then to
float32. That is the fused result whenever the float64 sum is exact, and otherwise except where it lands exactly
half-way between two float32 values (or in float32's subnormal range); such a row is reported as unsure, as is any row
with a value or a length that is not finite, and the caller reads those rows back from Edge. The kernel is chosen from
the CPU here as Edge chooses it; the caller still compares a few rows of each write with Edge's and stops trusting
this module for the collection on any difference (another CPU, another Edge).
"""

from __future__ import annotations

import platform
import struct
from functools import lru_cache
from typing import Sequence

import numpy as np

_EPSILON = np.float32(np.finfo(np.float32).eps)  # f32::EPSILON
_NORMALISED = np.float32(1.0e-6)  # the f32 nearest 1e-6, as Rust's literal
_ONE = np.float32(1.0)
_LOW_BITS = (1 << 29) - 1  # the float64 mantissa bits below float32's 24
_HALF_WAY = 1 << 28  # ...set to exactly one half of a float32 unit in the last place
_SMALLEST_NORMAL_BITS = int(np.array(np.finfo(np.float32).tiny, dtype=np.float64).view(np.int64))


@lru_cache(maxsize=1)
def _x86_features() -> frozenset[str]:
    """The CPU's flags as Linux reports them; where it does not (another system), AVX and FMA are assumed, as on
    any x86-64 of the last decade (and a wrong guess only costs the read-back the caller's check falls back to)."""
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset({"avx", "fma", "sse"})


@lru_cache(maxsize=256)
def kernel(dimension: int) -> str:
    """The sum of squares Edge runs for a cosine vector of this dimension on this machine: avx, sse, neon or
    scalar (simple.rs: MIN_DIM_SIZE_AVX = 32, MIN_DIM_SIZE_SIMD = 16)."""
    machine = platform.machine().lower()
    if machine in ("x86_64", "amd64", "i386", "i686", "x86"):
        features = _x86_features()
        if dimension >= 32 and machine in ("x86_64", "amd64") and {"avx", "fma"} <= features:
            return "avx"
        return "sse" if dimension >= 16 and "sse" in features else "scalar"
    if machine in ("aarch64", "arm64"):
        return "neon" if dimension >= 16 else "scalar"
    return "scalar"


def float32_rows(values: Sequence[list], dimension: int) -> np.ndarray:
    """The vectors as a writable float32 matrix, each number cast as Edge casts it (`f64 as f32`: C's cast, which
    struct's native `f` format applies; twice as fast as numpy's conversion of nested lists). Raises struct.error,
    TypeError or OverflowError for a vector of another length or a value that is not a number."""
    pack = _packer(dimension).pack
    packed = bytearray().join([pack(*vector) for vector in values])
    return np.frombuffer(packed, dtype=np.float32).reshape(len(values), dimension)


@lru_cache(maxsize=64)
def _packer(dimension: int) -> struct.Struct:
    return struct.Struct(f"{dimension}f")


def stored_rows(values: np.ndarray, metric: str, kernel_name: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The rows Edge stores for these vectors (one per row of `values`, as written: any numeric dtype) under this
    metric, and which of them this function cannot vouch for (bool per row: read those back from Edge)."""
    with np.errstate(all="ignore"):
        rows = np.ascontiguousarray(values, dtype=np.float32)
        if metric != "cosine":
            return rows, ~np.isfinite(rows).all(axis=1)
        return _cosine(rows, kernel_name or kernel(rows.shape[1]))


def _cosine(rows: np.ndarray, kernel_name: str) -> tuple[np.ndarray, np.ndarray]:
    count, dimension = rows.shape
    unsure = np.zeros(count, dtype=bool)
    if kernel_name == "avx":
        block, length = 32, None
        sums = _fused_sums(rows, 32, unsure)
        if sums is not None:
            registers = [sums[:, 8 * r:8 * r + 8] for r in range(4)]
            lanes = (registers[0] + registers[1]) + (registers[2] + registers[3])
            halves = lanes[:, 4:] + lanes[:, :4]
            length = (halves[:, 0] + halves[:, 1]) + (halves[:, 2] + halves[:, 3])
    elif kernel_name == "neon":
        block, length = 16, None
        sums = _fused_sums(rows, 16, unsure)
        if sums is not None:
            registers = [sums[:, 4 * r:4 * r + 4] for r in range(4)]
            lanes = (registers[0] + registers[1]) + (registers[2] + registers[3])
            length = (lanes[:, 0] + lanes[:, 1]) + (lanes[:, 2] + lanes[:, 3])
    elif kernel_name == "sse":
        block, length = 16, None
        blocks = dimension // 16
        if blocks:
            sums = np.zeros((count, 16), dtype=np.float32)
            for start in range(0, blocks * 16, 16):
                part = rows[:, start:start + 16]
                sums += part * part
            for r in range(4):
                lanes = sums[:, 4 * r:4 * r + 4]
                total = (lanes[:, 0] + lanes[:, 2]) + (lanes[:, 1] + lanes[:, 3])
                length = total if length is None else length + total
    else:
        block, length = dimension + 1, None  # no blocks: every value is a "tail" value
    if length is None:
        length = np.zeros(count, dtype=np.float32)
    tail_from = dimension - dimension % block if block <= dimension else 0
    for column in range(tail_from, dimension):
        value = rows[:, column]
        length = length + value * value
    unsure |= ~np.isfinite(length)
    keep = (length < _EPSILON) | (np.abs(length - _ONE) <= _NORMALISED)
    if keep.all():
        return rows, unsure
    if kernel_name in ("avx", "neon"):
        normalised = rows * (_ONE / np.sqrt(length))[:, None]
    else:
        normalised = rows / np.sqrt(length)[:, None]
    if keep.any():
        normalised[keep] = rows[keep]
    return normalised, unsure


def _fused_sums(rows: np.ndarray, block: int, unsure: np.ndarray) -> np.ndarray | None:
    """The accumulators after `acc = fma(x, x, acc)` over every whole block of `block` values (one lane per value of
    a block), as float32; rows where a fused result could differ from what this computes are marked in `unsure`.
    None when there is no whole block."""
    count = rows.shape[0]
    blocks = rows.shape[1] // block
    if not blocks:
        return None
    # blocks × rows × lanes, so that each step reads one contiguous slab; a float32 squared is exact in float64
    squares = np.empty((blocks, count, block), dtype=np.float64)
    np.square(rows[:, :blocks * block].reshape(count, blocks, block).transpose(1, 0, 2), out=squares,
              dtype=np.float64)
    sums = np.zeros((count, block), dtype=np.float32)
    total = np.empty((count, block), dtype=np.float64)
    bits = total.view(np.int64)
    low = np.empty((count, block), dtype=np.int64)
    doubtful = np.empty((count, block), dtype=bool)
    small = np.empty((count, block), dtype=bool)
    for step in range(blocks):
        square = squares[step]
        np.add(square, sums, out=total)
        # Where the float64 rounding may matter: half-way between two float32s (round-to-even may then pick what a
        # single rounding would not), or below float32's smallest normal (its grid is coarser there). Zeros are
        # caught too, and cleared below with every other sum that float64 holds exactly.
        np.bitwise_and(bits, _LOW_BITS, out=low)
        np.equal(low, _HALF_WAY, out=doubtful)
        np.less(bits, _SMALLEST_NORMAL_BITS, out=small)
        doubtful |= small
        if doubtful.any():
            where = np.nonzero(doubtful)
            exact_sum, square_at, sum_at = total[where], square[where], sums[where].astype(np.float64)
            # Both operands are non-negative, so the sum is within twice the larger one: subtracting that one is
            # exact (Sterbenz) and gives back the other only when nothing was rounded off.
            rounded = (exact_sum - square_at != sum_at) | (exact_sum - sum_at != square_at)
            unsure[where[0][rounded]] = True
        sums = total.astype(np.float32)
    return sums


def platform_summary() -> str:
    """What chose the kernel, for a log line: the machine and, on x86, whether Linux reports AVX and FMA."""
    machine = platform.machine()
    if machine.lower() in ("x86_64", "amd64"):
        features = _x86_features()
        return f"{machine}, avx={'avx' in features}, fma={'fma' in features}"
    return machine
