"""Reading and writing photos: 8- and 16-bit PNG, JPEG and TIFF (and what :mod:`lumastyle.decoders`
reads), EXIF orientation applied, colour profiles and metadata carried through, atomic writes.

Images travel through lumastyle as float32 tensors of shape (3, H, W) holding sRGB values in [0, 1]
(``(4, H, W)`` with alpha last where a caller asks to keep it). A photo that embeds an RGB ICC profile
is converted from it to sRGB when read (:mod:`lumastyle.profiles`; an untagged photo is sRGB and its
pixels pass unchanged), and :func:`read_photo` also returns the profile and the photo's metadata
(:mod:`lumastyle.metadata`), which :func:`write_image` converts back to and embeds. What a real collection holds is read or
refused in one line naming the file: grayscale, palette, CMYK (TIFF and JPEG) and RGBA photos become
RGB; truncated, empty, zero-byte files and non-images with image names, float photos holding NaN or
infinity, and photos above the pixel limit (a guard against decompression bombs: a small file that
decodes to gigabytes; a reader's ``max_pixels`` argument or ``LUMASTYLE_MAX_PIXELS`` raises it)
raise :class:`BadFileError`, which names the file and the reason.

Importing this module changes nothing for the rest of the process: the pixel limit is an argument
(the DataModules and ``stylize`` pass theirs), never written to the environment, and Pillow's own
limit is lifted only while lumastyle opens a file (lumastyle checks the size itself, with a message
naming the option).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import struct
import tempfile
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import tifffile
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from lumastyle import decoders, profiles
from lumastyle.errors import BadFileError, LumastyleError
from lumastyle.metadata import (
    Metadata,
    add_tiff_exif,
    for_output,
    from_pillow,
    from_tiff,
    pillow_options,
    png_chunks,
    tiff_options,
)
from lumastyle.pixel_limit import (
    DEFAULT_MAX_PIXELS as DEFAULT_MAX_PIXELS,  # re-exported: callers import them from here
)
from lumastyle.pixel_limit import check_pixels as _check_pixels
from lumastyle.pixel_limit import max_pixels as max_pixels

#: Suffixes lumastyle reads as photos (lower case); :data:`lumastyle.decoders.SUFFIXES` among them.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", *decoders.SUFFIXES)
#: Suffixes whose format is lossless: ``predict`` and ``action apply`` keep these formats, everything
#: else becomes PNG.
LOSSLESS_SUFFIXES = (".png", ".tif", ".tiff")
_TIFF = (".tif", ".tiff")
#: Formats ``stylize --format`` writes -> their suffixes (the first is written when the input's own
#: suffix is not one of them).
FORMAT_SUFFIXES = {"jpeg": (".jpg", ".jpeg"), "png": (".png",), "tiff": (".tif", ".tiff")}
#: ``stylize --format`` values: ``auto`` follows the input, the others are :data:`FORMAT_SUFFIXES`.
OUTPUT_FORMATS = ("auto", *FORMAT_SUFFIXES)
#: JPEG quality ``write_image`` and ``stylize`` use unless told otherwise (Pillow's 1-100 scale).
DEFAULT_JPEG_QUALITY = 95
# lumastyle checks the header's size itself, for every format (tifffile has no such guard), with a
# message naming the option; Pillow's own check would raise before that with a message of its own, so
# it is lifted while lumastyle opens a file (_pillow_open), and only then.
_PILLOW_LIMIT = threading.Lock()
# tifffile logs its complaints about a malformed file before raising; the error lumastyle raises says it
logging.getLogger("tifffile").setLevel(logging.CRITICAL)


@contextlib.contextmanager
def _pillow_open(path: Path) -> Iterator[Image.Image]:
    """``Image.open(path)`` with Pillow's decompression-bomb limit lifted for the open alone (the
    size is checked by :func:`_check_pixels` against lumastyle's limit instead)."""
    with _PILLOW_LIMIT:
        saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
        try:
            im = Image.open(path)
        finally:
            Image.MAX_IMAGE_PIXELS = saved
    with im:
        yield im


#: What decoders raise on a malformed file (Pillow, tifffile and numpy raise many kinds), each turned
#: into lumastyle's one line naming the file.
_DECODE_ERRORS = (
    OSError, ValueError, RuntimeError, UnidentifiedImageError, tifffile.TiffFileError, IndexError, KeyError,
    TypeError, ArithmeticError, struct.error, SyntaxError, EOFError, zlib.error,
)  # fmt: skip


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


def _to_rgb_array(array: np.ndarray, path: Path, alpha: bool = False) -> np.ndarray:
    """(H, W), (H, W, 1|2|3|4) arrays -> (H, W, 3), or (H, W, 4) when ``alpha`` and the image has one."""
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[2] not in (1, 2, 3, 4):
        raise BadFileError(path, f"unsupported image layout {array.shape}; save it as an RGB image")
    if array.shape[2] in (1, 2):
        gray = np.repeat(array[:, :, :1], 3, axis=2)
        return np.concatenate([gray, array[:, :, 1:]], axis=2) if alpha and array.shape[2] == 2 else gray
    return array if alpha and array.shape[2] == 4 else array[:, :, :3]


def _normalise(array: np.ndarray, path: Path) -> tuple[torch.Tensor, int]:
    if array.dtype == np.uint8:
        scale, depth = 255.0, 8
    elif array.dtype == np.uint16:
        scale, depth = 65535.0, 16
    elif np.issubdtype(array.dtype, np.floating):
        scale, depth = 1.0, 32
        if not np.isfinite(array).all():
            raise BadFileError(path, "the image holds NaN or infinite values; replace or remove the file")
    else:
        raise BadFileError(path, f"unsupported sample type {array.dtype}; use 8- or 16-bit images")
    tensor = torch.from_numpy(np.ascontiguousarray(array).astype(np.float32) / scale)
    return tensor.permute(2, 0, 1).contiguous().clamp_(0.0, 1.0), depth


def _tiff_colours(array: np.ndarray, page: tifffile.TiffPage, path: Path) -> np.ndarray:
    """Palette, white-is-zero and CMYK TIFF samples -> the RGB(A) samples of the same type."""
    photometric = page.photometric
    if photometric == tifffile.PHOTOMETRIC.PALETTE and page.colormap is not None:
        colormap = np.asarray(page.colormap)  # (3, 2**bits) uint16
        rgb = np.moveaxis(colormap[:, array.astype(np.intp)], 0, -1)
        return rgb if array.dtype != np.uint8 else (rgb // 257).astype(np.uint8)
    if not np.issubdtype(array.dtype, np.integer):
        return array
    top = np.iinfo(array.dtype).max
    if photometric == tifffile.PHOTOMETRIC.MINISWHITE:
        return top - array
    if photometric == tifffile.PHOTOMETRIC.SEPARATED:
        if array.ndim != 3 or array.shape[2] < 4:
            raise BadFileError(path, "a separated (CMYK) TIFF needs 4 inks; save it as RGB")
        # the naive CMYK -> RGB of a press file without its ICC profile: (1 - ink) * (1 - black)
        ink = array[:, :, :4].astype(np.float64) / top
        light = (1 - ink[:, :, :3]) * (1 - ink[:, :, 3:4])
        return np.round(light * top).astype(array.dtype)
    return array


def _read_tiff(
    path: Path, alpha: bool = False, limit: int | None = None, info: bool = False
) -> tuple[np.ndarray, bytes | None, Metadata]:
    """The pixels, the embedded ICC profile and (with ``info``) the metadata of a TIFF."""
    with tifffile.TiffFile(path) as tif:
        page = tif.pages[0]
        _check_pixels(path, page.imagewidth, page.imagelength, limit)
        array = page.asarray()
        icc = page.tags.get(34675)
        profile = bytes(icc.value) if icc is not None and isinstance(icc.value, (bytes, bytearray)) else None
        meta = from_tiff(page, _tiff_exif(path)) if info else Metadata()
        orientation = page.tags.get("Orientation")
        if array.ndim == 3 and array.shape[0] in (3, 4) and array.shape[2] not in (3, 4):
            array = np.moveaxis(array, 0, 2)  # planar (separate) configuration
        array = _to_rgb_array(_tiff_colours(array, page, path), path, alpha)
        if orientation is not None and orientation.value != 1:
            array = _apply_orientation(array, int(orientation.value))
    return array, profile, meta


def _tiff_exif(path: Path) -> bytes | None:
    """A TIFF's EXIF as Pillow reads it (None where Pillow cannot open the file: its pixels are
    tifffile's, its EXIF is then left out)."""
    try:
        with _pillow_open(path) as im:
            return from_pillow(im).exif
    except _DECODE_ERRORS:
        return None


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


_PNG_CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}  # colour type -> samples per pixel (16-bit: no palette)


def _checked_png16(path: Path, limit: int | None = None) -> bytes:
    """The bytes of a 16-bit PNG whose structure, checksums and compressed pixel rows are all sound.

    Written by hand because nothing maintained does it: Pillow reads 16-bit RGB only as 8-bit, and
    torchvision's decoder (libpng) crashes the process on some corrupt files instead of raising, so
    the file is checked before it is handed over (chunk CRCs, the IHDR fields, the zlib stream
    complete, the exact row count and every row's filter byte).
    """
    data = path.read_bytes()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("no PNG signature")
    pos, ihdr, idat, ended = 8, None, [], False
    while pos + 12 <= len(data) and not ended:
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if len(body) != length or pos + 12 + length > len(data):
            raise ValueError(f"truncated {kind.decode('latin-1')!r} chunk")
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        if zlib.crc32(kind + body) != crc:
            raise ValueError(f"bad checksum in the {kind.decode('latin-1')!r} chunk")
        if ihdr is None and kind != b"IHDR":
            raise ValueError("the first chunk is not IHDR")
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body) if length == 13 else None
            if ihdr is None:
                raise ValueError("bad IHDR chunk")
        elif kind == b"IDAT":
            idat.append(body)
        ended = kind == b"IEND"
        pos += 12 + length
    if ihdr is None or not ended or not idat:
        raise ValueError("truncated file (no IEND)" if ihdr is not None else "no IHDR chunk")
    w, h, depth, colour, compression, filtering, interlace = ihdr
    if depth != 16 or colour not in _PNG_CHANNELS or compression or filtering or interlace not in (0, 1):
        raise ValueError("unsupported or invalid IHDR fields")
    if not (0 < w < 1 << 31 and 0 < h < 1 << 31):
        raise ValueError(f"invalid size {w}x{h}")
    _check_pixels(path, w, h, limit)
    row_bytes = lambda width: 1 + width * _PNG_CHANNELS[colour] * 2  # noqa: E731  (filter byte + samples)
    if interlace:  # the 7 Adam7 passes: (x0, y0, dx, dy)
        passes = [
            (0, 0, 8, 8),
            (4, 0, 8, 8),
            (0, 4, 4, 8),
            (2, 0, 4, 4),
            (0, 2, 2, 4),
            (1, 0, 2, 2),
            (0, 1, 1, 2),
        ]
        rows = [((w - x0 + dx - 1) // dx, (h - y0 + dy - 1) // dy) for x0, y0, dx, dy in passes]
        layout = [(row_bytes(pw), ph) for pw, ph in rows if pw > 0 and ph > 0]
    else:
        layout = [(row_bytes(w), h)]
    expected = sum(n * count for n, count in layout)
    inflater = zlib.decompressobj()
    raw = inflater.decompress(b"".join(idat), expected + 1)
    if len(raw) != expected or not inflater.eof:
        raise ValueError("the compressed pixel data is truncated or corrupt")
    start = 0
    for n, count in layout:
        if (np.frombuffer(raw, np.uint8, n * count, start)[::n] > 4).any():  # each row's filter byte
            raise ValueError("invalid row filter")
        start += n * count
    return data


def _read_png16(
    path: Path, alpha: bool = False, limit: int | None = None, info: bool = False
) -> tuple[np.ndarray, bytes | None, Metadata]:
    from torchvision.io import ImageReadMode, decode_png

    data = torch.frombuffer(bytearray(_checked_png16(path, limit)), dtype=torch.uint8)
    data = decode_png(data, mode=ImageReadMode.UNCHANGED)
    array = data.permute(1, 2, 0).numpy()
    array = _to_rgb_array(array, path, alpha)
    with _pillow_open(path) as im:  # orientation lives in the eXIf chunk, which Pillow reads
        orientation = im.getexif().get(0x0112, 1)
        profile, meta = im.info.get("icc_profile"), from_pillow(im) if info else Metadata()
    return _apply_orientation(array, orientation), profile, meta


def _reason(err: BaseException) -> str:
    """A decoder's complaint, cut to one short line (hostile files make long, multi-line ones)."""
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return text if len(text) <= 100 else text[:97] + "..."


def _has_alpha(im: Image.Image) -> bool:
    return im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in im.info


@dataclasses.dataclass
class Photo:
    """A photo as :func:`read_photo` returns it.

    Attributes:
        image: float32 (3, H, W) sRGB in [0, 1], upright ((4, H, W) with alpha last when asked for);
            uint8 levels for an 8-bit photo read with ``levels`` (:func:`read_photo`).
        bit_depth: 8, 16 or 32 (float), as stored.
        profile: the embedded RGB ICC profile the pixels were converted from (None: the photo has
            none, or one of another colour space, and was read as sRGB); :func:`write_image` converts
            back to it and embeds it.
        metadata: EXIF, XMP and IPTC, as stored (:func:`write_image` prepares them for the output).
    """

    image: torch.Tensor
    bit_depth: int
    profile: bytes | None = None
    metadata: Metadata = dataclasses.field(default_factory=Metadata)


def _decode(
    path: Path, alpha: bool, limit: int | None, info: bool
) -> tuple[np.ndarray, bytes | None, Metadata]:
    """The upright pixels (as stored), the embedded ICC profile and (with ``info``) the metadata."""
    suffix = path.suffix.lower()
    if suffix in decoders.SUFFIXES:
        decoded = decoders.decode(path, limit)
        meta = Metadata(decoded.exif, decoded.xmp) if info else Metadata()
        return _to_rgb_array(decoded.array, path, alpha), decoded.icc_profile, meta
    if suffix in _TIFF:
        return _read_tiff(path, alpha, limit, info)
    if suffix == ".png" and _png_bit_depth(path) == 16:
        return _read_png16(path, alpha, limit, info)
    with _pillow_open(path) as im:
        _check_pixels(path, *im.size, limit)
        profile, meta = im.info.get("icc_profile"), from_pillow(im) if info else Metadata()
        im = ImageOps.exif_transpose(im)
        if im.mode in ("I;16", "I;16B", "I;16L", "I"):
            array = _to_rgb_array(np.asarray(im).astype(np.uint16), path)
        else:
            array = np.asarray(im.convert("RGBA" if alpha and _has_alpha(im) else "RGB"))
    return array, profile, meta


def read_photo(
    path: str | os.PathLike, alpha: bool = False, max_pixels: int | None = None, levels: bool = False
) -> Photo:
    """Decode a photo to sRGB (:class:`Photo`), with its profile and metadata for the output.

    As :func:`read_image`, which returns this photo's ``image`` and ``bit_depth``. With ``levels``, an
    8-bit photo whose pixels are sRGB as stored (no profile, or an sRGB one) keeps its 8-bit levels: the
    image is uint8 (what :func:`lumastyle.inference.stylize_tensor` and :func:`write_image` take as they
    are, so a JPEG in and out is never made float whole).
    """
    return _read(Path(path), alpha, max_pixels, info=True, levels=levels)


def read_image(
    path: str | os.PathLike, alpha: bool = False, max_pixels: int | None = None
) -> tuple[torch.Tensor, int]:
    """Decode a photo to a float32 (3, H, W) sRGB tensor in [0, 1] and its bit depth (8, 16 or 32).

    A photo that embeds an RGB ICC profile is converted from it to sRGB (:mod:`lumastyle.profiles`;
    16-bit precision is kept), an untagged photo is read as sRGB. EXIF orientation is applied;
    grayscale is repeated to three channels, palette and CMYK become RGB.
    Alpha is dropped, unless ``alpha`` is true and the photo has one: then the tensor is (4, H, W),
    alpha last. Any failure (missing, zero-byte, truncated, not an image, above ``max_pixels``, see
    :func:`max_pixels`) raises :class:`BadFileError` naming the file.
    """
    photo = _read(Path(path), alpha, max_pixels, info=False)
    return photo.image, photo.bit_depth


def _read(path: Path, alpha: bool, max_pixels: int | None, info: bool, levels: bool = False) -> Photo:
    if not path.is_file():
        raise BadFileError(path, "no such file; check the path")
    if path.stat().st_size == 0:
        raise BadFileError(path, "the file is empty (0 bytes); replace or remove it")
    try:
        array, profile, meta = _decode(path, alpha, max_pixels, info)
    except LumastyleError:
        raise
    except MemoryError:
        raise BadFileError(path, "not enough memory to decode this image; lower --max_pixels or use a smaller copy") from None
    except _DECODE_ERRORS as err:
        reason = _reason(err)
        raise BadFileError(path, f"cannot read this image ({reason}); replace or remove the file") from None
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise BadFileError(path, "the image is empty (0 pixels); replace or remove the file")
    converter = profiles.converter(profile) if profile else None
    converted = converter is not None and not converter.srgb
    if levels and array.dtype == np.uint8 and not converted:
        image = torch.empty(array.shape[2], *array.shape[:2], dtype=torch.uint8)
        image.numpy()[...] = np.moveaxis(array, 2, 0)  # one copy into channels first (the array is read-only)
        return Photo(image, 8, profile if converter is not None else None, meta)
    image, depth = _normalise(array, path)
    del array
    if converter is not None and converted:
        image[:3] = converter.to_srgb(image[:3])
    return Photo(image, depth, profile if converter is not None else None, meta)


def read_info(path: str | os.PathLike) -> tuple[bytes | None, Metadata]:
    """A photo's RGB ICC profile (None as in :class:`Photo`) and metadata, without its pixels where the
    format allows (``predict`` writes them into its outputs); a file that cannot be read has neither."""
    path = Path(path)
    try:
        if path.suffix.lower() in decoders.SUFFIXES:
            decoded = decoders.metadata(path)  # the profile and metadata alone: no RAW rendering
            profile, meta = decoded.icc_profile, Metadata(decoded.exif, decoded.xmp)
        elif path.suffix.lower() in _TIFF:
            with tifffile.TiffFile(path) as tif:
                icc = tif.pages[0].tags.get(34675)
                profile = bytes(icc.value) if icc is not None and isinstance(icc.value, (bytes, bytearray)) else None
                meta = from_tiff(tif.pages[0], _tiff_exif(path))
        else:
            with _pillow_open(path) as im:
                profile, meta = im.info.get("icc_profile"), from_pillow(im)
    except (LumastyleError, *_DECODE_ERRORS):
        return None, Metadata()
    return (profile if profile and profiles.converter(profile) is not None else None), meta


def read_size(path: str | os.PathLike, max_pixels: int | None = None) -> tuple[int, int]:
    """(width, height) of a photo after EXIF orientation, read from its header without decoding (a
    photo above ``max_pixels`` raises, as :func:`read_image` does)."""
    path = Path(path)
    if path.is_file() and path.stat().st_size == 0:
        raise BadFileError(path, "the file is empty (0 bytes); replace or remove it")
    try:
        if path.suffix.lower() in decoders.SUFFIXES:
            return decoders.size(path, max_pixels)
        if path.suffix.lower() in _TIFF:
            with tifffile.TiffFile(path) as tif:
                page = tif.pages[0]
                h, w = page.imagelength, page.imagewidth
                orientation = page.tags.get("Orientation")
                swap = orientation is not None and int(orientation.value) in (5, 6, 7, 8)
        else:
            with _pillow_open(path) as im:
                w, h = im.size
                swap = im.getexif().get(0x0112, 1) in (5, 6, 7, 8)
        _check_pixels(path, w, h, max_pixels)
    except _DECODE_ERRORS as err:
        reason = _reason(err)
        raise BadFileError(path, f"cannot read this image ({reason}); replace or remove the file") from None
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
def atomic_path(path: str | os.PathLike, keep_suffix: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed onto ``path`` in one step.

    An error leaves no file under the final name and removes the temporary one; a kill leaves at
    most a hidden ``.NAME.*.part`` file (``keep_suffix``: ``.part.png``, for writers that choose the
    format by suffix), never a partial file under the final name.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = f".part{path.suffix}" if keep_suffix else ".part"
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=suffix, dir=path.parent)
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


def _encode_png16(array: np.ndarray, chunks: bytes = b"") -> bytes:
    # Written by hand: Pillow and torchvision.io cannot encode 16-bit-per-channel RGB PNGs.
    h, w, c = array.shape
    rows = np.ascontiguousarray(array.astype(">u2")).reshape(h, w * c).view(np.uint8)  # big-endian samples
    raw = np.concatenate([np.zeros((h, 1), np.uint8), rows], axis=1).tobytes()  # filter type 0 per row

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", w, h, 16, 6 if c == 4 else 2, 0, 0, 0)  # colour type 6: RGBA
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunks  # the profile and metadata (lumastyle.metadata.png_chunks), before the pixels
        + chunk(b"IDAT", zlib.compress(raw, 6))
        + chunk(b"IEND", b"")
    )


def write_image(
    path: str | os.PathLike,
    image: torch.Tensor,
    bit_depth: int = 8,
    quality: int = DEFAULT_JPEG_QUALITY,
    subsampling: int = 0,
    profile: bytes | None = None,
    metadata: Metadata | None = None,
) -> Path:
    """Write a (3, H, W) sRGB tensor in [0, 1] (or of uint8 levels) atomically as PNG, TIFF or JPEG (by
    suffix).

    ``profile`` (an RGB ICC profile, as :class:`Photo` holds it): the pixels are converted from sRGB
    to it and it is embedded (:mod:`lumastyle.profiles`); None writes sRGB with no profile.
    ``metadata``: the photo's EXIF, XMP and IPTC, written as :mod:`lumastyle.metadata` says
    (orientation 1, Software lumastyle); None writes none.

    ``bit_depth`` 16 is kept for PNG and TIFF; JPEG is always 8-bit, at ``quality`` (1-100) with
    ``subsampling`` 0 (4:4:4: colour at full resolution, the default), 1 (4:2:2) or 2 (4:2:0). A
    (4, H, W) tensor carries alpha into PNG and TIFF (JPEG drops it). A failed write (a full disk, a
    read-only folder) raises a one-line :class:`LumastyleError` and leaves no file under ``path``; a
    ``quality`` or ``subsampling`` out of range is a ValueError (``stylize`` checks ``--quality`` itself).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if image.ndim != 3 or image.shape[0] not in (3, 4):
        raise ValueError(f"expected a (3, H, W) or (4, H, W) image, got {tuple(image.shape)}")
    if isinstance(quality, bool) or not isinstance(quality, int) or not 1 <= quality <= 100:
        raise ValueError(f"JPEG quality must be an integer from 1 to 100, got {quality!r}")
    if subsampling not in (0, 1, 2):
        raise ValueError(f"JPEG subsampling must be 0 (4:4:4), 1 (4:2:2) or 2 (4:2:0), got {subsampling!r}")
    if image.shape[0] == 4 and suffix not in LOSSLESS_SUFFIXES:
        image = image[:3]  # JPEG has no alpha
    converter = profiles.converter(profile) if profile else None
    sixteen = bit_depth >= 16 and suffix in LOSSLESS_SUFFIXES
    if image.dtype == torch.uint8 and (sixteen or (converter is not None and not converter.srgb)):
        image = image.float() / 255  # 8-bit levels are written as they are, unless converted or widened
    if converter is not None and not converter.srgb:
        image = torch.cat([converter.from_srgb(image[:3].detach().float().clamp(0, 1).cpu()), image[3:].cpu()])
    icc = profile if converter is not None else None
    if image.dtype == torch.uint8:
        array = np.ascontiguousarray(image.detach().permute(1, 2, 0).cpu().numpy())
    else:
        hwc = image.detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy()
        array = np.round(hwc * (65535.0 if sixteen else 255.0)).astype(np.uint16 if sixteen else np.uint8)
    meta = for_output(metadata, array.shape[1], array.shape[0]) if metadata else Metadata()
    pillow: dict = {"icc_profile": icc} if icc else {}
    try:
        with atomic_path(path) as tmp:
            if suffix in _TIFF:
                alpha = ["unassalpha"] if array.shape[2] == 4 else None
                tagged = tiff_options(meta, icc) if icc or meta else {}
                tifffile.imwrite(
                    tmp, array, photometric="rgb", compression="zlib", extrasamples=alpha, **tagged
                )
                add_tiff_exif(tmp, meta.exif)
            elif suffix == ".png" and sixteen:
                tmp.write_bytes(_encode_png16(array, png_chunks(meta, icc)))
            elif suffix == ".png":
                Image.fromarray(array).save(tmp, format="PNG", **pillow, **pillow_options(meta, "PNG"))
            elif suffix in FORMAT_SUFFIXES["jpeg"]:
                Image.fromarray(array).save(
                    tmp, format="JPEG", quality=quality, subsampling=subsampling, **pillow,
                    **pillow_options(meta, "JPEG"),
                )  # fmt: skip
            else:
                raise BadFileError(path, f"cannot write '{suffix}' files; use .png, .tif or .jpg")
    except (OSError, tifffile.TiffFileError) as err:
        # a TiffFileError is a ValueError: it has no strerror
        reason = (err.strerror if isinstance(err, OSError) else None) or err
        raise BadFileError(path, f"cannot write ({reason}); check the folder and free space") from None
    return path


def output_name(input_path: Path, format: str | None = None) -> str:
    """Output file name for a stylized photo of ``input_path`` written as ``format``.

    - ``None`` (``predict``, ``action apply``): the input's name for lossless formats (PNG, TIFF), else
      ``<stem>.png``.
    - ``auto`` (``stylize``'s default): the input's name where lumastyle writes its format (JPEG, PNG,
      TIFF); a HEIC/HEIF photo gives ``<stem>.jpg`` and a camera RAW ``<stem>.tif`` (16-bit: what a
      photographer exports each as); anything else ``<stem>.png``.
    - ``jpeg``, ``png``, ``tiff``: the input's name when its suffix is already one of that format's
      (spelled as the input spells it: ``a.JPEG`` stays ``a.JPEG``), else ``<stem>.jpg``, ``.png`` or
      ``.tif``.

    Any other ``format`` is a ValueError (``stylize`` checks ``--format`` itself).
    """
    suffix = input_path.suffix.lower()
    if format is None:
        return input_path.name if suffix in LOSSLESS_SUFFIXES else input_path.stem + ".png"
    if format == "auto":
        if suffix in decoders.HEIF_SUFFIXES:  # a HEIC gives a JPEG, a camera RAW a 16-bit TIFF
            return input_path.stem + FORMAT_SUFFIXES["jpeg"][0]
        if suffix in decoders.RAW_SUFFIXES:
            return input_path.stem + FORMAT_SUFFIXES["tiff"][0]
        known = any(suffix in suffixes for suffixes in FORMAT_SUFFIXES.values())
        return input_path.name if known else input_path.stem + ".png"
    if format not in FORMAT_SUFFIXES:
        raise ValueError(f"unknown output format {format!r}; use one of {', '.join(OUTPUT_FORMATS)}")
    suffixes = FORMAT_SUFFIXES[format]
    return input_path.name if suffix in suffixes else input_path.stem + suffixes[0]
