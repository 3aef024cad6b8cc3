"""Decoders for photos Pillow and tifffile do not read: HEIC/HEIF (iPhones) and camera RAW files.

Contract (issue 29): :func:`decode` turns a file whose suffix is in :data:`SUFFIXES` into a
:class:`Decoded`: upright pixels (orientation applied), the embedded ICC profile and the metadata
blobs, so that :mod:`lumastyle.io` treats it like any other photo (profile conversion, metadata
carried into the output). :func:`size` reads (width, height) after orientation without decoding
pixels, and agrees with :func:`decode`'s shape. Both check the pixel limit (``max_pixels``, see
:func:`lumastyle.pixel_limit.max_pixels`) before any pixel is decoded. Every failure (missing, empty,
truncated, not a HEIC/RAW, the decoder's own errors) is a one-line
:class:`~lumastyle.errors.BadFileError` naming the file.

HEIC/HEIF (:data:`HEIF_SUFFIXES`, through pillow-heif and libheif): the primary image, 8-bit as
uint8; 10- and 12-bit as uint16 scaled to the full 0-65535 range; alpha kept (RGBA), grayscale
repeated to RGB. libheif applies the file's own transforms (``irot``/``imir``: how a HEIF stores
orientation), so the pixels are upright, and the Orientation tag of the EXIF (and XMP) carried along
is reset to 1 so that no writer rotates them again. ``icc_profile`` is the embedded ICC profile
(Display P3 on iPhones); a file that describes its colours with an ``nclx`` box instead is sRGB
(None) when its primaries are BT.709/sRGB or unspecified, else gets a matrix/TRC ICC profile made
by LittleCMS from the box's primaries and white point (:func:`_nclx_icc`, the sRGB tone curve); an
HDR transfer (PQ, HLG) is refused.

Camera RAW (:data:`RAW_SUFFIXES`, through rawpy and LibRaw) is rendered the same way every time,
with :data:`RAW_RENDERING`: the camera's as-shot white balance (``use_camera_wb=True``), LibRaw's
default demosaic (AHD for Bayer sensors, its own for X-Trans), LibRaw's colour matrix for the camera
(a DNG's ColorMatrix) into sRGB primaries, the sRGB tone curve (``gamma=(2.4, 12.92)``; LibRaw's
default is BT.709's), 16-bit output, highlights clipped, and no automatic brightening
(``no_auto_bright=True``: the sensor's white level is white, so an exposure is rendered as shot and
two exposures of one scene differ as they did in camera; dcraw's default would stretch each photo's
histogram to clip 1% of its pixels, a different, content-dependent curve for every photo). No tone
curve, noise reduction, sharpening or lens correction: this is the flat "before" a photographer
starts from, darker and flatter than the camera's JPEG. The orientation the camera recorded is
applied (LibRaw's ``flip``). ``icc_profile`` is None (sRGB). ``exif`` is rebuilt from the file's
own EXIF where it can be read cheaply: TIFF-structured RAWs (DNG, CR2, NEF, ARW, PEF, SRW, ORF,
RW2, ...), a CR3's CMT1/CMT2 boxes and a RAF's embedded JPEG; IFD0's descriptive tags (make, model,
date, artist, copyright), the Exif IFD without the MakerNote, and GPS, with Orientation 1. Other
RAW formats carry no EXIF (None). ``xmp`` is a DNG's XMP packet where it has one.
"""

from __future__ import annotations

import io
import struct
import warnings
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pillow_heif
import rawpy
import tifffile
from PIL import Image

from lumastyle.errors import BadFileError, LumastyleError
from lumastyle.pixel_limit import check_pixels as _check_pixels
from lumastyle.profiles import srgb_decode

#: HEIF photos (HEVC-coded; ``.hif`` is what Canon and Fujifilm cameras name their HEIF files).
HEIF_SUFFIXES: tuple[str, ...] = (".heic", ".heif", ".hif")
#: Camera RAW files LibRaw reads (lower case).
RAW_SUFFIXES: tuple[str, ...] = (
    ".dng", ".cr2", ".cr3", ".crw", ".nef", ".nrw", ".arw", ".srf", ".sr2", ".raf", ".rw2", ".rwl",
    ".orf", ".pef", ".srw", ".3fr", ".fff", ".iiq", ".erf", ".kdc", ".dcr", ".mrw", ".mos", ".x3f",
)  # fmt: skip
#: Suffixes (lower case) this module decodes; :data:`lumastyle.io.IMAGE_SUFFIXES` includes them.
SUFFIXES: tuple[str, ...] = HEIF_SUFFIXES + RAW_SUFFIXES
#: How every RAW is rendered: rawpy's ``postprocess`` arguments (the module docstring says why).
RAW_RENDERING: dict[str, Any] = {
    "use_camera_wb": True,
    "no_auto_bright": True,
    "output_bps": 16,
    "output_color": rawpy.ColorSpace.sRGB,
    "gamma": (2.4, 12.92),
    "highlight_mode": rawpy.HighlightMode.Clip,
}

#: What the decoders raise on a malformed file, each turned into one line naming the file.
_ERRORS = (
    OSError, ValueError, RuntimeError, EOFError, SyntaxError, rawpy.LibRawError, rawpy.NotSupportedError,
    struct.error, zlib.error, IndexError, KeyError, TypeError, ArithmeticError,
)  # fmt: skip
# nclx colour primaries that are sRGB's: 1 (BT.709), 2 (unspecified)
_SRGB_PRIMARIES = (1, 2)
# nclx transfer characteristics lumastyle reads as the sRGB curve: unspecified, BT.709/601/2020
# (SDR camera curves, shown with the sRGB curve by the usual viewers), sRGB itself
_SDR_TRANSFERS = (1, 2, 6, 13, 14, 15)


@dataclass
class Decoded:
    """A decoded photo as it was stored.

    Attributes:
        array: (H, W, 3) or (H, W, 4) uint8 or uint16 pixels, upright, in the space ``icc_profile``
            describes (sRGB when it is None).
        icc_profile: the embedded ICC profile's bytes, or None.
        exif: the EXIF block as Pillow's ``Image.info["exif"]`` holds it (``Exif\\0\\0`` + TIFF
            structure), its Orientation 1 (the pixels are upright), or None.
        xmp: the XMP packet's bytes, or None.
    """

    array: np.ndarray
    icc_profile: bytes | None = None
    exif: bytes | None = None
    xmp: bytes | None = None


def is_heif(path: Path) -> bool:
    return Path(path).suffix.lower() in HEIF_SUFFIXES


def is_raw(path: Path) -> bool:
    return Path(path).suffix.lower() in RAW_SUFFIXES


def decode(path: Path, max_pixels: int | None = None) -> Decoded:
    """Decode ``path`` (its suffix is in :data:`SUFFIXES`): upright pixels, profile and metadata."""
    path = Path(path)
    with _one_line(path):
        return _decode_heif(path, max_pixels) if is_heif(path) else _decode_raw(path, max_pixels)


def size(path: Path, max_pixels: int | None = None) -> tuple[int, int]:
    """(width, height) of ``path`` after orientation, read from its header without decoding pixels
    (a photo above ``max_pixels`` raises, as :func:`decode` does)."""
    path = Path(path)
    with _one_line(path):
        if is_heif(path):
            return _heif_size(_open_heif(path), path, max_pixels)
        with rawpy.RawPy() as raw:
            raw.open_file(str(path))
            return _raw_size(raw, path, max_pixels)


def metadata(path: Path) -> Decoded:
    """What :func:`decode` returns but the pixels (``array`` is empty, shape (0, 0, 3)): the profile
    and metadata, read without decoding (a HEIC's header; a RAW's bytes, not LibRaw)."""
    path = Path(path)
    with _one_line(path):
        empty = np.zeros((0, 0, 3), np.uint8)
        if is_raw(path):
            exif, xmp = _raw_metadata(path.read_bytes())
            return Decoded(empty, None, exif, xmp)
        heif = _open_heif(path)
        info = dict(heif.info)
        meta = _heif_metadata(info)
        return Decoded(empty, _heif_profile(info, path), meta["exif"], meta["xmp"])


@contextmanager
def _one_line(path: Path) -> Iterator[None]:
    """Every failure while decoding ``path`` -> a one-line BadFileError naming it."""
    if not path.is_file():
        raise BadFileError(path, "no such file; check the path")
    if path.stat().st_size == 0:
        raise BadFileError(path, "the file is empty (0 bytes); replace or remove it")
    if path.suffix.lower() not in SUFFIXES:
        raise BadFileError(path, f"not a HEIC or camera RAW file (suffix {path.suffix!r})")
    kind = "HEIC/HEIF" if is_heif(path) else "RAW"
    try:
        yield
    except LumastyleError:
        raise
    except MemoryError:
        raise BadFileError(
            path, "not enough memory to decode this image; lower --max_pixels or use a smaller copy"
        ) from None
    except _ERRORS as err:
        raise BadFileError(
            path, f"cannot read this {kind} file ({_reason(err)}); replace or remove the file"
        ) from None


def _reason(err: BaseException) -> str:
    """A decoder's complaint, cut to one short line (LibRaw's arrive as bytes reprs: b'...')."""
    if isinstance(err, rawpy.LibRawFileUnsupportedError):
        return "not a RAW file LibRaw reads"
    if isinstance(err, rawpy.LibRawIOError):
        return "truncated or unreadable: LibRaw's input/output error"
    text = str(err).strip()
    if text.startswith(("b'", 'b"')) and text.endswith(text[1]):
        text = text[2:-1]
    text = text.splitlines()[0] if text else type(err).__name__
    return text if len(text) <= 100 else text[:97] + "..."


# ---------------------------------------------------------------------------------------------- HEIF


def _open_heif(path: Path) -> pillow_heif.HeifFile:
    # the header and metadata only; the pixels are decoded when the array is asked for
    return pillow_heif.open_heif(path, convert_hdr_to_8bit=False)


def _heif_size(heif: pillow_heif.HeifFile, path: Path, limit: int | None) -> tuple[int, int]:
    width, height = heif.size  # libheif's size after the file's transforms (irot: rotation)
    _check_pixels(path, width, height, limit)
    return int(width), int(height)


def _check_boxes(path: Path) -> None:
    """Raise where the file's top-level ISO-BMFF boxes (ftyp, meta, mdat, ...) do not end at its end.

    Written by hand: libheif decodes a file cut short after the image's own data without complaint,
    dropping what lay past the cut (the EXIF or XMP), so a partial copy would pass for a whole one.
    """
    total, at = path.stat().st_size, 0
    with open(path, "rb") as f:
        while at < total:
            f.seek(at)
            head = f.read(16)
            if len(head) < 8:
                raise ValueError(f"truncated file: {total - at} stray bytes at its end")
            (length,) = struct.unpack(">I", head[:4])
            if length == 1 and len(head) == 16:  # a 64-bit size follows the type
                (length,) = struct.unpack(">Q", head[8:16])
            elif length == 0:  # the box runs to the end of the file
                length = total - at
            if length < 8:
                raise ValueError(f"invalid box size {length} at byte {at}")
            if at + length > total:
                raise ValueError(
                    f"truncated file: its {head[4:8].decode('latin-1')!r} box ends at byte {at + length}, the file at {total}"
                )
            at += length


def _decode_heif(path: Path, limit: int | None) -> Decoded:
    heif = _open_heif(path)
    _heif_size(heif, path, limit)
    _check_boxes(path)
    if heif.premultiplied_alpha:
        heif.premultiplied_alpha = False  # libheif divides the colours by alpha
    array = np.asarray(heif)
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[2] not in (1, 2, 3, 4) or 0 in array.shape:
        raise ValueError(f"unsupported image layout {array.shape}")
    if array.shape[2] in (1, 2):  # grayscale (+ alpha)
        array = np.concatenate([np.repeat(array[:, :, :1], 3, axis=2), array[:, :, 1:]], axis=2)
    bits = int(heif.info.get("bit_depth", 8))
    if array.dtype == np.uint16 and 8 < bits < 16:
        # pillow-heif shifts 10/12-bit samples left (1023 -> 65472); scale them to 0-65535 instead
        top = (1 << bits) - 1
        array = np.round((array >> (16 - bits)).astype(np.float32) * (65535.0 / top)).astype(np.uint16)
    info = heif.info
    meta = _heif_metadata(info)
    return Decoded(
        array=np.ascontiguousarray(array),
        icc_profile=_heif_profile(info, path),
        exif=meta["exif"],
        xmp=meta["xmp"],
    )


def _heif_metadata(info: dict[str, Any]) -> dict[str, bytes | None]:
    """The EXIF (``Exif\\0\\0`` + TIFF) and XMP of a HEIF, their orientation 1."""
    exif = info.get("exif") or None
    if exif is not None and not exif.startswith(b"Exif\x00\x00"):
        exif = b"Exif\x00\x00" + exif  # pillow-heif keeps the prefix only where the file had it
    meta = {"exif": exif, "xmp": info.get("xmp") or None}
    pillow_heif.set_orientation(meta)  # libheif rotated the pixels; the tags say 1 from here on
    return meta


def _heif_profile(info: dict[str, Any], path: Path) -> bytes | None:
    """The ICC profile the pixels are in: the embedded one, or one made from an nclx box."""
    if info.get("icc_profile"):
        return bytes(info["icc_profile"])
    nclx = info.get("nclx_profile")
    if not nclx:
        return None
    transfer = int(nclx.get("transfer_characteristics", 2))
    if transfer not in _SDR_TRANSFERS:
        name = {16: "PQ", 18: "HLG"}.get(transfer, f"transfer characteristics {transfer}")
        raise BadFileError(path, f"an HDR HEIF ({name}) is not supported; export it as an SDR HEIC or JPEG")
    if int(nclx.get("color_primaries", 2)) in _SRGB_PRIMARIES:
        return None
    xy = [
        (float(nclx[f"color_primary_{c}_x"]), float(nclx[f"color_primary_{c}_y"]))
        for c in ("red", "green", "blue", "white")
    ]
    return _nclx_icc(xy[:3], xy[3])


def _nclx_icc(primaries: list[tuple[float, float]], white: tuple[float, float]) -> bytes:
    """An ICC matrix/TRC display profile for RGB ``primaries`` and ``white`` (CIE xy) with the sRGB
    tone curve, made by LittleCMS's cmsCreateRGBProfile (through imagecodecs), which adapts the
    primaries to the ICC's D50 by Bradford, as colour managers expect. The curve is the sRGB curve of
    :func:`lumastyle.profiles.srgb_decode` as a 1024-point 16-bit table."""
    import imagecodecs  # as lumastyle.profiles does: only a photo that needs a profile pays its import

    curve = np.round(srgb_decode(np.linspace(0.0, 1.0, 1024)) * 65535).astype(np.uint16)
    return bytes(
        imagecodecs.cms_profile(
            "rgb",
            whitepoint=[*white, 1.0],
            primaries=[v for x, y in primaries for v in (x, y, 1.0)],
            transferfunction=curve,
        )
    )


# ----------------------------------------------------------------------------------------------- RAW


def _raw_size(raw: rawpy.RawPy, path: Path, limit: int | None) -> tuple[int, int]:
    """The size LibRaw's output will have (dcraw's stretch of non-square pixels, then its flip)."""
    sizes = raw.sizes
    _check_pixels(path, sizes.raw_width, sizes.raw_height, limit)  # what unpack() holds in memory
    width, height = int(sizes.width), int(sizes.height)
    aspect = float(sizes.pixel_aspect)
    if aspect < 1:
        height = int(height / aspect + 0.5)
    elif aspect > 1:
        width = int(width * aspect + 0.5)
    _check_pixels(path, width, height, limit)
    return (height, width) if int(sizes.flip) & 4 else (width, height)


def _decode_raw(path: Path, limit: int | None) -> Decoded:
    # read once: LibRaw decodes these bytes, which the truncation check and the metadata also read (by
    # name, LibRaw would read the file again; its own complaints on stderr now say "unknown file", and
    # the one-line error after them names it)
    data = path.read_bytes()
    with rawpy.RawPy() as raw:
        raw.open_buffer(io.BytesIO(data))
        _raw_size(raw, path, limit)  # before a pixel is unpacked
        _check_complete(data)
        raw.unpack()
        array = raw.postprocess(**RAW_RENDERING)
    if array.ndim != 3 or array.shape[2] != 3 or 0 in array.shape:
        raise ValueError(f"LibRaw rendered an image of shape {array.shape}")
    exif, xmp = _raw_metadata(data)
    return Decoded(array=np.ascontiguousarray(array), icc_profile=None, exif=exif, xmp=xmp)


def _check_complete(data: bytes) -> None:
    """Raise where a TIFF-structured RAW's image data runs past the end of the file (a partial copy).

    LibRaw raises where its decompressor runs dry, but reads an uncompressed mosaic cut short by a
    few bytes without complaint. The strips and tiles of the first IFDs and their SubIFDs (where
    DNG, NEF and ARW keep the mosaic) are checked against the file's length; a file tifffile cannot
    walk is left to LibRaw.
    """
    if data[:4] not in (b"II*\0", b"MM\0*"):
        return
    ends = []
    try:
        with tifffile.TiffFile(io.BytesIO(data)) as tif:
            for index, page in enumerate(tif.pages):
                if index >= 8:
                    break
                for ifd in (page, *(getattr(page, "pages", None) or ())):
                    if isinstance(ifd, tifffile.TiffPage):
                        ends += [
                            o + n for o, n in zip(ifd.dataoffsets, ifd.databytecounts, strict=False) if n
                        ]
    except (*_ERRORS, tifffile.TiffFileError):
        return
    if ends and max(ends) > len(data):
        raise ValueError(f"truncated file: its image data ends at byte {max(ends)}, the file at {len(data)}")


#: IFD0 tags carried from a RAW: description, make, model, software, date, artist, copyright
_IFD0_TAGS = (0x010E, 0x010F, 0x0110, 0x0131, 0x0132, 0x013B, 0x8298)
_EXIF_IFD, _GPS_IFD, _INTEROP_IFD, _MAKER_NOTE, _XMP_TAG = 0x8769, 0x8825, 0xA005, 0x927C, 0x02BC


def _raw_metadata(data: bytes) -> tuple[bytes | None, bytes | None]:
    """(EXIF blob, XMP packet) of a RAW file's bytes, each None where it cannot be read cheaply.

    A RAW's metadata is not an error: what cannot be read is left out, and the photo still decodes.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow warns of corrupt EXIF before it gives up on it
            return _raw_exif_and_xmp(data)
    except _ERRORS:  # hostile metadata costs the metadata, not the photo
        return None, None


def _raw_exif_and_xmp(data: bytes) -> tuple[bytes | None, bytes | None]:
    head = data[:16]
    if head[:4] in (b"II*\0", b"MM\0*", b"IIRO", b"IIRS", b"IIU\0"):
        # ORF (IIRO/IIRS) and RW2 (IIU) are TIFF with a magic number of their own
        tiff = head[:2] + (b"*\0" if head[:2] == b"II" else b"\0*") + data[4:]
        exif = Image.Exif()
        exif.load(tiff)
        xmp = exif.get(_XMP_TAG)
        return _clean_exif(exif, exif.get_ifd(_EXIF_IFD), exif.get_ifd(_GPS_IFD)), (
            bytes(xmp) if xmp else None
        )
    if head[4:12] == b"ftypcrx ":  # Canon CR3: ISO base media; CMT1 holds IFD0, CMT2 the Exif IFD
        ifd0, sub = Image.Exif(), Image.Exif()
        for box, target in ((b"CMT1", ifd0), (b"CMT2", sub)):
            at = data.find(box, 0, 1 << 20)
            if at >= 4:
                (length,) = struct.unpack(">I", data[at - 4 : at])
                target.load(data[at + 4 : at - 4 + length])
        return _clean_exif(ifd0, dict(sub), {}), None
    if data.startswith(b"FUJIFILMCCD-RAW"):  # Fujifilm RAF: the camera's JPEG holds the EXIF
        offset, length = struct.unpack(">II", data[84:92])
        with Image.open(io.BytesIO(data[offset : offset + length])) as jpeg:
            blob = jpeg.info.get("exif")
        if not blob:
            return None, None
        exif = Image.Exif()
        exif.load(blob)
        return _clean_exif(exif, exif.get_ifd(_EXIF_IFD), exif.get_ifd(_GPS_IFD)), None
    return None, None


def _clean_exif(ifd0: Image.Exif, exif_ifd: dict[int, Any], gps: dict[int, Any]) -> bytes | None:
    """A fresh EXIF block of a RAW's descriptive tags: nothing that points into the RAW file itself
    (strips, sub-images, MakerNote), Orientation 1 (LibRaw applied it)."""
    out = Image.Exif()
    for tag in _IFD0_TAGS:
        if tag in ifd0:
            out[tag] = ifd0[tag]
    exif_tags = {k: v for k, v in exif_ifd.items() if k not in (_MAKER_NOTE, _INTEROP_IFD)}
    if not (len(out) or exif_tags or gps):
        return None
    out[0x0112] = 1
    if exif_tags:
        out[_EXIF_IFD] = exif_tags
    if gps:
        out[_GPS_IFD] = dict(gps)
    return out.tobytes()
