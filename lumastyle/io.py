"""Reading and writing photos: 8- and 16-bit PNG, JPEG and TIFF, EXIF orientation applied, atomic writes.

Images travel through lumastyle as float32 tensors of shape (3, H, W) holding sRGB values in [0, 1].
"""

from __future__ import annotations

import contextlib
import os
import struct
import tempfile
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import tifffile
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from lumastyle.errors import LumastyleError

#: Suffixes lumastyle reads as photos (lower case).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
#: Suffixes whose format is lossless: ``stylize`` keeps these formats, everything else becomes PNG.
LOSSLESS_SUFFIXES = (".png", ".tif", ".tiff")
_TIFF = (".tif", ".tiff")
# Pillow refuses images above this many pixels by default (a decompression-bomb guard); photos from
# today's cameras (up to ~100 MP) must still open.
Image.MAX_IMAGE_PIXELS = 200_000_000


def is_image_file(path: Path) -> bool:
    """True when ``path`` has one of the suffixes lumastyle reads (hidden files excluded)."""
    return path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def list_images(folder: Path) -> list[Path]:
    """The photos directly inside ``folder``, sorted by name."""
    return sorted(p for p in Path(folder).iterdir() if p.is_file() and is_image_file(p))


def _png_bit_depth(path: Path) -> int:
    with open(path, "rb") as f:
        head = f.read(25)
    # PNG signature (8 bytes), IHDR length+type (8), width, height (8), then the bit depth byte.
    if len(head) < 25 or head[:8] != b"\x89PNG\r\n\x1a\n":
        return 8
    return head[24]


def _to_rgb_array(array: np.ndarray, path: Path) -> np.ndarray:
    """(H, W), (H, W, 1|2|3|4) arrays -> (H, W, 3); alpha is dropped."""
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[2] not in (1, 2, 3, 4):
        raise LumastyleError(f"{path}: unsupported image layout {array.shape}; save it as an RGB image")
    if array.shape[2] in (1, 2):
        array = np.repeat(array[:, :, :1], 3, axis=2)
    return array[:, :, :3]


def _normalise(array: np.ndarray, path: Path) -> tuple[torch.Tensor, int]:
    if array.dtype == np.uint8:
        scale, depth = 255.0, 8
    elif array.dtype == np.uint16:
        scale, depth = 65535.0, 16
    elif np.issubdtype(array.dtype, np.floating):
        scale, depth = 1.0, 32
    else:
        raise LumastyleError(f"{path}: unsupported sample type {array.dtype}; use 8- or 16-bit images")
    tensor = torch.from_numpy(np.ascontiguousarray(array).astype(np.float32) / scale)
    return tensor.permute(2, 0, 1).contiguous().clamp_(0.0, 1.0), depth


def _read_tiff(path: Path) -> np.ndarray:
    with tifffile.TiffFile(path) as tif:
        page = tif.pages[0]
        array = page.asarray()
        orientation = page.tags.get("Orientation")
        if array.ndim == 3 and array.shape[0] in (3, 4) and array.shape[2] not in (3, 4):
            array = np.moveaxis(array, 0, 2)  # planar (separate) configuration
        array = _to_rgb_array(array, path)
        if orientation is not None and orientation.value != 1:
            array = _apply_orientation(array, int(orientation.value))
    return array


def _apply_orientation(array: np.ndarray, orientation: int) -> np.ndarray:
    """EXIF/TIFF orientation tag -> upright array (the 8 cases of the TIFF 6.0 specification)."""
    ops = {
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: np.swapaxes(a, 0, 1),
        6: lambda a: np.swapaxes(a, 0, 1)[:, ::-1],
        7: lambda a: np.swapaxes(a, 0, 1)[::-1, ::-1],
        8: lambda a: np.swapaxes(a, 0, 1)[::-1],
    }
    return ops[orientation](array) if orientation in ops else array


def _read_png16(path: Path) -> np.ndarray:
    from torchvision.io import ImageReadMode, decode_png, read_file

    data = decode_png(read_file(str(path)), mode=ImageReadMode.UNCHANGED)
    array = data.permute(1, 2, 0).numpy()
    array = _to_rgb_array(array, path)
    with Image.open(path) as im:  # orientation lives in the eXIf chunk, which Pillow reads
        orientation = im.getexif().get(0x0112, 1)
    return _apply_orientation(array, orientation)


def read_image(path: str | os.PathLike) -> tuple[torch.Tensor, int]:
    """Decode a photo to a float32 (3, H, W) sRGB tensor in [0, 1] and its bit depth (8, 16 or 32).

    EXIF orientation is applied, alpha is dropped and grayscale is repeated to three channels.
    Any failure (missing, truncated, not an image) raises :class:`LumastyleError` naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise LumastyleError(f"{path}: no such file; check the path")
    suffix = path.suffix.lower()
    try:
        if suffix in _TIFF:
            array = _read_tiff(path)
        elif suffix == ".png" and _png_bit_depth(path) == 16:
            array = _read_png16(path)
        else:
            with Image.open(path) as im:
                im = ImageOps.exif_transpose(im)
                if im.mode in ("I;16", "I;16B", "I;16L", "I"):
                    array = _to_rgb_array(np.asarray(im).astype(np.uint16), path)
                else:
                    array = np.asarray(im.convert("RGB"))
    except LumastyleError:
        raise
    except (OSError, ValueError, RuntimeError, UnidentifiedImageError, tifffile.TiffFileError) as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise LumastyleError(
            f"{path}: cannot read this image ({reason}); replace or remove the file"
        ) from None
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise LumastyleError(f"{path}: the image is empty (0 pixels); replace or remove the file")
    return _normalise(array, path)


def read_size(path: str | os.PathLike) -> tuple[int, int]:
    """(width, height) of a photo after EXIF orientation, read from its header without decoding."""
    path = Path(path)
    try:
        if path.suffix.lower() in _TIFF:
            with tifffile.TiffFile(path) as tif:
                page = tif.pages[0]
                h, w = page.imagelength, page.imagewidth
                orientation = page.tags.get("Orientation")
                swap = orientation is not None and int(orientation.value) in (5, 6, 7, 8)
        else:
            with Image.open(path) as im:
                w, h = im.size
                swap = im.getexif().get(0x0112, 1) in (5, 6, 7, 8)
    except (OSError, ValueError, UnidentifiedImageError, tifffile.TiffFileError) as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise LumastyleError(
            f"{path}: cannot read this image ({reason}); replace or remove the file"
        ) from None
    return (h, w) if swap else (w, h)


def photos_at(path: Path, label: str = "") -> list[Path]:
    """The photo ``path``, or the photos in the folder ``path``; a one-line LumastyleError otherwise.

    Args:
        path: a PNG, JPEG or TIFF file, or a folder of them.
        label: how messages name the path (a flag such as ``--input``), before the path itself.
    """
    name = f"{label} {path}".strip()
    if path.is_file():
        if not is_image_file(path):
            raise LumastyleError(f"{name}: not a PNG, JPEG or TIFF photo; give a photo or a folder of photos")
        return [path]
    if path.is_dir():
        photos = list_images(path)
        if not photos:
            raise LumastyleError(f"{name}: no PNG, JPEG or TIFF photos in this folder; check the path")
        return photos
    raise LumastyleError(f"{name} does not exist; give a photo or a folder of photos")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed onto ``path`` in one step.

    A crash or error leaves no file under the final name (and removes the temporary one).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".part{path.suffix}", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    umask = os.umask(0)
    os.umask(umask)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~umask)  # mkstemp makes 0600 files; give the usual permissions
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _encode_png16(array: np.ndarray) -> bytes:
    # Written by hand: Pillow and torchvision.io cannot encode 16-bit-per-channel RGB PNGs.
    h, w, _ = array.shape
    rows = np.ascontiguousarray(array.astype(">u2")).reshape(h, w * 3).view(np.uint8)  # big-endian samples
    raw = np.concatenate([np.zeros((h, 1), np.uint8), rows], axis=1).tobytes()  # filter type 0 per row

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(raw, 6))
        + chunk(b"IEND", b"")
    )


def write_image(path: str | os.PathLike, image: torch.Tensor, bit_depth: int = 8) -> Path:
    """Write a (3, H, W) tensor in [0, 1] atomically as PNG, TIFF or JPEG (by suffix).

    ``bit_depth`` 16 is kept for PNG and TIFF; JPEG is always 8-bit.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if image.ndim != 3 or image.shape[0] != 3:
        raise ValueError(f"expected a (3, H, W) image, got {tuple(image.shape)}")
    hwc = image.detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy()
    sixteen = bit_depth >= 16 and suffix in LOSSLESS_SUFFIXES
    array = np.round(hwc * (65535.0 if sixteen else 255.0)).astype(np.uint16 if sixteen else np.uint8)
    try:
        with atomic_path(path) as tmp:
            if suffix in _TIFF:
                tifffile.imwrite(tmp, array, photometric="rgb", compression="zlib")
            elif suffix == ".png" and sixteen:
                tmp.write_bytes(_encode_png16(array))
            elif suffix == ".png":
                Image.fromarray(array).save(tmp, format="PNG")
            elif suffix in (".jpg", ".jpeg"):
                Image.fromarray(array).save(tmp, format="JPEG", quality=95)
            else:
                raise LumastyleError(f"{path}: cannot write '{suffix}' files; use .png, .tif or .jpg")
    except OSError as err:
        raise LumastyleError(
            f"{path}: cannot write ({err.strerror or err}); check the folder and free space"
        ) from None
    return path


def output_name(input_path: Path) -> str:
    """Output file name for a stylized photo: the input's name for lossless formats, else ``<stem>.png``."""
    return input_path.name if input_path.suffix.lower() in LOSSLESS_SUFFIXES else input_path.stem + ".png"
