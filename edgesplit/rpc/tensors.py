"""numpy arrays to and from the `Tensor` message (RAW or Q8_AFFINE), with the checks the server relies on."""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from edgesplit.rpc.codec import dequantize_u8, quantize_u8
from edgesplit.rpc.generated import edgesplit_pb2 as pb

# dtypes a Tensor may name; the tail models take float32 only, but the codec layer is general.
DTYPES = {"float32": np.dtype("<f4"), "float16": np.dtype("<f2"), "float64": np.dtype("<f8"), "uint8": np.dtype("u1")}
_NAMES = {dtype: name for name, dtype in DTYPES.items()}
CODECS = {"raw": pb.RAW, "q8": pb.Q8_AFFINE}
MAX_RANK = 8
MAX_DIM = 2**31 - 1  # keeps numpy's size arithmetic far from overflow whatever the other dimensions are


class TensorError(ValueError):
    """A Tensor message that cannot be decoded (the server answers INVALID_ARGUMENT with this text)."""


def encode(x: np.ndarray, codec: str = "raw") -> pb.Tensor:
    """A Tensor message holding `x` (float arrays; `codec` "raw" keeps the bytes, "q8" sends one byte a value)."""
    if codec not in CODECS:
        raise ValueError(f"unknown codec {codec!r} (expected one of {', '.join(CODECS)})")
    x = np.asarray(x)
    name = x.dtype.name
    if name not in DTYPES:
        raise ValueError(f"dtype {name} cannot be sent (expected one of {', '.join(DTYPES)})")
    if codec == "q8":
        q, scale, zero_point = quantize_u8(x)
        return pb.Tensor(
            dtype="float32",
            shape=x.shape,
            codec=pb.Q8_AFFINE,
            scale=scale,
            zero_point=zero_point,
            data=q.tobytes(),
        )
    data = np.ascontiguousarray(x, dtype=DTYPES[name]).tobytes()
    return pb.Tensor(dtype=name, shape=x.shape, codec=pb.RAW, data=data)


def decode(t: pb.Tensor, data: bytes | memoryview | None = None) -> np.ndarray:
    """The array a Tensor message holds; raises TensorError naming what is wrong with it.

    `data` stands for `t.data` when given (the view from `parse_request`). RAW data is wrapped without a copy
    (read-only); Q8_AFFINE is dequantized to float32.
    """
    if t.dtype not in DTYPES:
        raise TensorError(f"unsupported dtype {t.dtype!r} (expected one of {', '.join(DTYPES)})")
    shape = tuple(t.shape)
    if len(shape) > MAX_RANK:
        raise TensorError(f"rank {len(shape)} is over {MAX_RANK}")
    if any(d < 0 or d > MAX_DIM for d in shape):
        raise TensorError(f"dimension out of range 0..{MAX_DIM} in shape {list(shape)}")
    count = math.prod(shape)
    if t.codec == pb.RAW:
        itemsize = DTYPES[t.dtype].itemsize
    elif t.codec == pb.Q8_AFFINE:
        if t.dtype != "float32":
            raise TensorError(f"Q8_AFFINE decodes to float32, not {t.dtype}")
        if not (math.isfinite(t.scale) and t.scale > 0):
            raise TensorError(f"Q8_AFFINE scale must be a positive finite number, got {t.scale}")
        if not 0 <= t.zero_point <= 255:
            raise TensorError(f"Q8_AFFINE zero_point must be in 0..255, got {t.zero_point}")
        itemsize = 1
    else:
        raise TensorError(f"unknown codec {t.codec}")
    if data is None:
        data = t.data  # each access copies the bytes out of the message: once only
    if len(data) != count * itemsize:
        raise TensorError(
            f"data is {len(data)} bytes but shape {list(shape)} of {t.dtype} "
            f"({pb.Codec.Name(t.codec)}) needs {count * itemsize}"
        )
    if t.codec == pb.RAW:
        return np.frombuffer(data, dtype=DTYPES[t.dtype]).reshape(shape)
    q = np.frombuffer(data, dtype=np.uint8).reshape(shape)
    return dequantize_u8(q, t.scale, t.zero_point)


def _varint(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


# wire tags: field number << 3 | 2 (length-delimited)
_TENSOR_TAG = bytes([5 << 3 | 2])  # InferRequest.tensor
_DATA_TAG = bytes([6 << 3 | 2])  # Tensor.data


def encode_request(
    x: np.ndarray, *, model_id: str, request_id: str, device_id: str = "", split_id: str = "", codec: str = "raw"
) -> bytes:
    """The serialized InferRequest for `x`, built with one copy of the tensor's bytes.

    Going through the message classes copies a large tensor four times (tobytes, into the message, into the
    parent, serialization); here protobuf serializes the small fields and the bytes are joined once, which is
    the same encoding (fields may come in any order on the wire; `pb.InferRequest.FromString` reads it back).
    """
    if codec not in CODECS:
        raise ValueError(f"unknown codec {codec!r} (expected one of {', '.join(CODECS)})")
    x = np.asarray(x)
    name = _NAMES.get(x.dtype) or x.dtype.name  # numpy computes .name on every access: slow on a hot path
    if name not in DTYPES:
        raise ValueError(f"dtype {name} cannot be sent (expected one of {', '.join(DTYPES)})")
    if codec == "q8":
        q, scale, zero_point = quantize_u8(x)
        head = pb.Tensor(dtype="float32", shape=x.shape, codec=pb.Q8_AFFINE, scale=scale, zero_point=zero_point)
        flat = q.reshape(-1)
    else:
        head = pb.Tensor(dtype=name, shape=x.shape, codec=pb.RAW)
        # a view when x is already little-endian and C-ordered: the join below is then the only copy
        flat = np.ascontiguousarray(x, dtype=DTYPES[name]).reshape(-1)
    data = memoryview(flat).cast("B") if flat.size else memoryview(b"")
    tensor = [head.SerializeToString()]
    if len(data):  # proto3 leaves out empty fields; so do we, to give the same bytes as SerializeToString
        tensor += [_DATA_TAG, _varint(len(data)), data]
    fields = pb.InferRequest(request_id=request_id, device_id=device_id, model_id=model_id, split_id=split_id)
    tensor_len = sum(len(p) for p in tensor)
    return b"".join([fields.SerializeToString(), _TENSOR_TAG, _varint(tensor_len), *tensor])


class _WireError(Exception):
    """Bytes the quick scan below does not understand (protobuf then parses them the ordinary way)."""


def _read_varint(buf: memoryview, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf) or shift >= 64:
            raise _WireError
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _fields(buf: memoryview, start: int, end: int) -> Iterator[tuple[int, int, int, int, int]]:
    """(field number, wire type, start of the key, start of the value, end) of each field in buf[start:end]."""
    pos = start
    while pos < end:
        key_at = pos
        key, pos = _read_varint(buf, pos)
        field, wire = key >> 3, key & 7
        value_at = pos
        if wire == 0:
            _, pos = _read_varint(buf, pos)
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        elif wire == 2:
            size, pos = _read_varint(buf, pos)
            value_at = pos
            pos += size
        else:  # groups: not in this schema
            raise _WireError
        if pos > end:
            raise _WireError
        yield field, wire, key_at, value_at, pos


def parse_request(data: bytes) -> tuple[pb.InferRequest, memoryview | None]:
    """An InferRequest parsed without copying its tensor's bytes: (message with empty tensor.data, the bytes).

    Parsing the whole message copies the data into it and every read of `tensor.data` copies it out again.
    Here the Tensor.data fields are cut out (the last one wins, as in protobuf), the small rest is parsed by
    protobuf, and the data is returned as a view of `data`. The second item is None when the quick scan did
    not understand the bytes and protobuf parsed them whole; protobuf's DecodeError comes through either way.
    """
    buf = memoryview(data)
    tensor_data = None
    kept: list[bytes | memoryview] = []
    try:
        for field, wire, key_at, value_at, end in _fields(buf, 0, len(buf)):
            if field == 5 and wire == 2:  # InferRequest.tensor
                inner = []
                for field2, wire2, key2, value2, end2 in _fields(buf, value_at, end):
                    if field2 == 6 and wire2 == 2:  # Tensor.data
                        tensor_data = buf[value2:end2]
                    else:
                        inner.append(buf[key2:end2])
                body = b"".join(inner)
                kept += [_TENSOR_TAG, _varint(len(body)), body]
            else:
                kept.append(buf[key_at:end])
    except _WireError:
        return pb.InferRequest.FromString(data), None
    return pb.InferRequest.FromString(b"".join(kept)), tensor_data
