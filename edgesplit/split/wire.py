"""What a split model sends over the network: 8-bit tensors per sample, raw images and PNG-compressed images."""

from __future__ import annotations

import io

import numpy as np

from edgesplit.rpc.codec import dequantize_u8, quantize_u8

# A quantized tensor travels with its float32 scale and its uint8 zero point.
QUANT_HEADER_BYTES = 5


def u8_wire_bytes(shape: tuple[int, ...]) -> int:
    """Bytes of one sample quantized to 8 bits: one byte a value plus the scale and zero point."""
    return int(np.prod(shape)) + QUANT_HEADER_BYTES


def quantize_roundtrip(z: np.ndarray) -> np.ndarray:
    """`z` (N, ...) after 8-bit quantization and back, one scale and zero point per sample.

    Per sample, not per batch: a device sends one request at a time, so each sample is quantized on its own
    (`edgesplit.rpc.codec.quantize_u8`, per-tensor affine over that sample's values).
    """
    out = np.empty_like(z, dtype=np.float32)
    for i in range(len(z)):
        q, scale, zero_point = quantize_u8(z[i])
        out[i] = dequantize_u8(q, scale, zero_point)
    return out


def png_encode(image: np.ndarray) -> bytes:
    """Lossless PNG (Pillow, maximum compression) of one uint8 image (C, H, W) with 1 or 3 channels."""
    from PIL import Image

    img = np.asarray(image, dtype=np.uint8)
    if img.ndim != 3 or img.shape[0] not in (1, 3):
        raise ValueError(f"PNG needs a (1 or 3, H, W) uint8 image, got {img.shape}")
    pil = Image.fromarray(img[0] if img.shape[0] == 1 else img.transpose(1, 2, 0))
    buf = io.BytesIO()
    pil.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def png_decode(data: bytes) -> np.ndarray:
    """Inverse of `png_encode`: uint8 (C, H, W)."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        a = np.asarray(im, dtype=np.uint8)
    return a[None] if a.ndim == 2 else a.transpose(2, 0, 1)


def png_sizes(images: np.ndarray) -> np.ndarray:
    """PNG sizes in bytes of uint8 images (N, C, H, W)."""
    return np.array([len(png_encode(im)) for im in images], dtype=np.int64)


def to_uint8(images: np.ndarray) -> np.ndarray:
    """float [0, 1] images as the uint8 pixels they were decoded from (uint8 input passes through)."""
    if images.dtype == np.uint8:
        return images
    return np.clip(np.rint(images * 255.0), 0, 255).astype(np.uint8)
