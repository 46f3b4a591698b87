"""Check that a ``.tflite`` file is structurally whole before any interpreter touches it.

Why this exists: ``tflite_runtime`` 2.14 and ``tf.lite.Interpreter`` do not verify the flatbuffer
they are given. A truncated download or a half-copied file makes them read past the end of the
buffer and the whole process dies with a segmentation fault, no Python exception, no message.
LiteRT verifies, but a Raspberry Pi with only ``tflite_runtime`` does not have it.

So :func:`check_tflite` walks the parts of the TFLite schema an interpreter reads when it loads a
model (the root table, operator codes, subgraphs with their tensors and operators, buffers) and
checks that every table, vtable, vector and string lies inside the file. It needs only the
standard library, and it is cheap (microseconds for our models).

Flatbuffer layout in brief: little-endian; a table starts with an int32 offset back to its vtable;
the vtable is uint16 ``[vtable size, table size, field offsets...]``; reference fields hold a
uint32 offset relative to the field; a vector is a uint32 length followed by its elements.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

from mnist_edge.common.errors import UserError

FILE_IDENTIFIER = b"TFL3"

# Field numbers in tensorflow/lite/schema/schema.fbs (they never change: flatbuffer rules).
MODEL_OPERATOR_CODES, MODEL_SUBGRAPHS, MODEL_DESCRIPTION, MODEL_BUFFERS = 1, 2, 3, 4
MODEL_METADATA_BUFFER, MODEL_METADATA, MODEL_SIGNATURE_DEFS = 5, 6, 7
SUBGRAPH_TENSORS, SUBGRAPH_INPUTS, SUBGRAPH_OUTPUTS, SUBGRAPH_OPERATORS, SUBGRAPH_NAME = range(5)
TENSOR_SHAPE, TENSOR_NAME, TENSOR_QUANTIZATION, TENSOR_SHAPE_SIGNATURE = 0, 3, 4, 7
QUANT_MIN, QUANT_MAX, QUANT_SCALE, QUANT_ZERO_POINT = range(4)
OPERATOR_INPUTS, OPERATOR_OUTPUTS, OPERATOR_BUILTIN_OPTIONS, OPERATOR_CUSTOM_OPTIONS = 1, 2, 4, 5
BUFFER_DATA, BUFFER_OFFSET, BUFFER_SIZE = 0, 1, 2


class _Corrupt(Exception):
    """Raised inside the walk; turned into one UserError naming the file."""


class _Reader:
    """Bounds-checked reads of flatbuffer primitives from ``data``."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.size = len(data)

    def _need(self, pos: int, length: int, what: str) -> None:
        if pos < 0 or length < 0 or pos + length > self.size:
            raise _Corrupt(f"{what} at byte {pos} runs past the end of the file "
                           f"({self.size} bytes)")

    def u16(self, pos: int, what: str = "value") -> int:
        self._need(pos, 2, what)
        return struct.unpack_from("<H", self.data, pos)[0]

    def u32(self, pos: int, what: str = "value") -> int:
        self._need(pos, 4, what)
        return struct.unpack_from("<I", self.data, pos)[0]

    def i32(self, pos: int, what: str = "value") -> int:
        self._need(pos, 4, what)
        return struct.unpack_from("<i", self.data, pos)[0]

    def u64(self, pos: int, what: str = "value") -> int:
        self._need(pos, 8, what)
        return struct.unpack_from("<Q", self.data, pos)[0]

    def table(self, pos: int, what: str) -> _Table:
        """The table at ``pos`` with its vtable, both checked to lie inside the file."""
        vtable = pos - self.i32(pos, what)
        vt_size = self.u16(vtable, f"{what} vtable")
        table_size = self.u16(vtable + 2, f"{what} vtable")
        if vt_size < 4 or vt_size % 2:
            raise _Corrupt(f"{what} has a malformed vtable")
        self._need(vtable, vt_size, f"{what} vtable")
        self._need(pos, table_size, what)
        return _Table(self, pos, vtable, vt_size, what)

    def vector(self, pos: int, elem_size: int, what: str) -> tuple[int, int]:
        """(start of elements, count) of the vector at ``pos``, checked to fit."""
        count = self.u32(pos, what)
        self._need(pos + 4, count * elem_size, what)
        return pos + 4, count


class _Table:
    """One flatbuffer table: look up fields through its vtable."""

    def __init__(self, reader: _Reader, pos: int, vtable: int, vt_size: int, what: str) -> None:
        self.r, self.pos, self.vtable, self.vt_size, self.what = reader, pos, vtable, vt_size, what

    def field(self, index: int) -> int | None:
        """Absolute position of field ``index``, or None when absent."""
        entry = 4 + 2 * index
        if entry + 2 > self.vt_size:
            return None
        offset = self.r.u16(self.vtable + entry, f"{self.what} vtable")
        return self.pos + offset if offset else None

    def ref(self, index: int) -> int | None:
        """Where a reference field (table, vector, string) points, or None when absent."""
        pos = self.field(index)
        return None if pos is None else pos + self.r.u32(pos, f"{self.what} field {index}")

    def vector(self, index: int, elem_size: int, name: str) -> tuple[int, int]:
        pos = self.ref(index)
        return (0, 0) if pos is None else self.r.vector(pos, elem_size, f"{self.what}.{name}")

    def tables(self, index: int, name: str) -> list[_Table]:
        """The tables of a vector-of-tables field."""
        start, count = self.vector(index, 4, name)
        return [
            self.r.table(start + 4 * i + self.r.u32(start + 4 * i), f"{self.what}.{name}[{i}]")
            for i in range(count)
        ]

    def subtable(self, index: int, name: str) -> _Table | None:
        pos = self.ref(index)
        return None if pos is None else self.r.table(pos, f"{self.what}.{name}")


def check_tflite_bytes(data: bytes, name: str = "model") -> None:
    """Raise :class:`UserError` unless ``data`` is a whole TFLite flatbuffer."""
    if len(data) < 8:
        raise UserError(f"{name}: not a .tflite model (only {len(data)} bytes)")
    if data[4:8] != FILE_IDENTIFIER:
        raise UserError(f"{name}: not a .tflite model (no TFL3 identifier)")
    try:
        _walk_model(_Reader(data))
    except _Corrupt as exc:
        raise UserError(f"{name}: corrupt or truncated .tflite model ({exc})")


def check_tflite(path: str | os.PathLike[str]) -> None:
    """Raise :class:`UserError` unless the file at ``path`` is a whole TFLite flatbuffer."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UserError(f"{path}: cannot read ({exc.strerror or exc})")
    check_tflite_bytes(data, str(path))


BUILTIN_NAMES = {
    0: "ADD", 1: "AVERAGE_POOL_2D", 2: "CONCATENATION", 3: "CONV_2D", 4: "DEPTHWISE_CONV_2D",
    6: "DEQUANTIZE", 9: "FULLY_CONNECTED", 14: "LOGISTIC", 17: "MAX_POOL_2D", 18: "MUL",
    19: "RELU", 21: "RELU6", 22: "RESHAPE", 25: "SOFTMAX", 40: "MEAN", 45: "STRIDED_SLICE",
    77: "SHAPE", 83: "PACK", 114: "QUANTIZE",
}


def operator_versions(data: bytes) -> dict[str, int]:
    """The builtin operators a model uses and their versions, e.g. ``{"CONV_2D": 3, ...}``.

    An interpreter loads a model only if it knows every (operator, version) pair in it; this is
    what decides whether a file converted by a new TensorFlow runs on an old tflite-runtime.
    """
    check_tflite_bytes(data)
    r = _Reader(data)
    model = r.table(r.u32(0), "model")
    found: dict[str, int] = {}
    for code in model.tables(MODEL_OPERATOR_CODES, "operator_codes"):
        deprecated, version, builtin = code.field(0), code.field(2), code.field(3)
        number = max(struct.unpack_from("<b", data, deprecated)[0] if deprecated else 0,
                     r.i32(builtin) if builtin else 0)
        name = BUILTIN_NAMES.get(number, f"BUILTIN_{number}")
        if number == 32 and code.ref(1) is not None:  # CUSTOM: use its own name
            start, length = r.vector(code.ref(1), 1, "custom_code")
            name = "CUSTOM:" + data[start : start + length].decode("utf-8", "replace")
        found[name] = max(found.get(name, 0), r.i32(version) if version else 1)
    return found


def _walk_model(r: _Reader) -> None:
    model = r.table(r.u32(0, "root offset"), "model")
    model.tables(MODEL_OPERATOR_CODES, "operator_codes")
    _string(model, MODEL_DESCRIPTION, "description")
    model.vector(MODEL_METADATA_BUFFER, 4, "metadata_buffer")
    for meta in model.tables(MODEL_METADATA, "metadata"):
        _string(meta, 0, "name")
    model.tables(MODEL_SIGNATURE_DEFS, "signature_defs")
    subgraphs = model.tables(MODEL_SUBGRAPHS, "subgraphs")
    if not subgraphs:
        raise _Corrupt("no subgraph")
    for subgraph in subgraphs:
        _walk_subgraph(subgraph)
    for buffer in model.tables(MODEL_BUFFERS, "buffers"):
        _walk_buffer(r, buffer)


def _walk_subgraph(subgraph: _Table) -> None:
    for tensor in subgraph.tables(SUBGRAPH_TENSORS, "tensors"):
        tensor.vector(TENSOR_SHAPE, 4, "shape")
        tensor.vector(TENSOR_SHAPE_SIGNATURE, 4, "shape_signature")
        _string(tensor, TENSOR_NAME, "name")
        quant = tensor.subtable(TENSOR_QUANTIZATION, "quantization")
        if quant is not None:
            for index, name, size in ((QUANT_MIN, "min", 4), (QUANT_MAX, "max", 4),
                                      (QUANT_SCALE, "scale", 4), (QUANT_ZERO_POINT, "zero", 8)):
                quant.vector(index, size, name)
    subgraph.vector(SUBGRAPH_INPUTS, 4, "inputs")
    subgraph.vector(SUBGRAPH_OUTPUTS, 4, "outputs")
    _string(subgraph, SUBGRAPH_NAME, "name")
    for op in subgraph.tables(SUBGRAPH_OPERATORS, "operators"):
        op.vector(OPERATOR_INPUTS, 4, "inputs")
        op.vector(OPERATOR_OUTPUTS, 4, "outputs")
        op.subtable(OPERATOR_BUILTIN_OPTIONS, "builtin_options")
        op.vector(OPERATOR_CUSTOM_OPTIONS, 1, "custom_options")


def _walk_buffer(r: _Reader, buffer: _Table) -> None:
    buffer.vector(BUFFER_DATA, 1, "data")
    offset_pos, size_pos = buffer.field(BUFFER_OFFSET), buffer.field(BUFFER_SIZE)
    if offset_pos is not None and size_pos is not None:
        # Models over 2 GB keep weights after the flatbuffer, addressed from the file start.
        offset, size = r.u64(offset_pos), r.u64(size_pos)
        if offset > 1 and offset + size > r.size:
            raise _Corrupt(f"buffer data at byte {offset} runs past the end of the file")


def _string(table: _Table, index: int, name: str) -> None:
    pos = table.ref(index)
    if pos is not None:
        table.r.vector(pos, 1, f"{table.what}.{name}")
