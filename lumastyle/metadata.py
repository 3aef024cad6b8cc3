"""What travels with a photo besides its pixels: EXIF, XMP and IPTC, and how each output format holds them.

A photo's metadata is read as three blocks of bytes (:class:`Metadata`) and written into its
stylized output, so the camera, lens, date, location, rating, keywords and credits survive
``stylize`` and ``predict``. On the way out (:func:`for_output`): the EXIF orientation (and XMP's
``tiff:Orientation``) becomes 1, since the pixels were turned upright when read; the Software tag
names lumastyle and its version; the EXIF pixel dimensions are the output's; the EXIF thumbnail (a
small copy of the photo before stylizing) and TIFF layout tags of a TIFF source are left out.

Where each block goes:

- JPEG: EXIF in APP1 (Pillow), XMP in APP1 (Pillow), IPTC in an APP13 Photoshop segment
  (:func:`jpeg_app13`, written by hand: Pillow reads APP13 but does not write it).
- PNG: EXIF in ``eXIf``, XMP in an ``iTXt`` chunk named ``XML:com.adobe.xmp`` (Pillow for 8-bit;
  :func:`png_chunks` for lumastyle's own 16-bit encoder). PNG has no standard place for IPTC: it is
  left out (editors copy IPTC's fields into XMP, which is kept).
- TIFF (written by tifffile): XMP (tag 700) and IPTC (33723) as tags of the image; EXIF's own tags
  of the first IFD (Make, Model, Artist, Copyright, DateTime, ...) as tags too, and its Exif and GPS
  sub-IFDs (exposure, lens, date taken, location) appended to the file by :func:`add_tiff_exif`
  (by hand: tifffile writes no sub-IFDs of this kind).
"""

from __future__ import annotations

import importlib.metadata
import re
import struct
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tifffile
from PIL import Image, TiffImagePlugin
from PIL.ExifTags import IFD

ORIENTATION, SOFTWARE = 0x0112, 0x0131
_PIXEL_X, _PIXEL_Y = 0xA002, 0xA003
#: TIFF tags that describe a TIFF file's layout, not the photo: a TIFF source's EXIF leaves them out.
_LAYOUT_TAGS = frozenset(
    {254, 255, 256, 257, 258, 259, 262, 263, 266, 273, 277, 278, 279, 280, 281, 284, 286,
     287, 290, 291, 292, 293, 317, 318, 319, 320, 322, 323, 324, 325, 330, 332, 338, 339,
     340, 341, 347, 513, 514, 529, 530, 531, 532, 700, 33723, 34377, 34665, 34853, 34675, 40965}
)  # fmt: skip
#: IFD0 tags a TIFF output keeps as plain tags: the ASCII ones that say what the photo is.
_TIFF_ASCII_TAGS = (270, 271, 272, 305, 306, 315, 316, 33432)
_EXIF_HEADER = b"Exif\x00\x00"
# tifffile refuses to write the Exif and GPS pointer tags, so each is written under the code before
# its own (which keeps the IFD's entries in order) and renamed by add_tiff_exif
_PLACEHOLDER = {IFD.Exif: int(IFD.Exif) - 1, IFD.GPSInfo: int(IFD.GPSInfo) - 1}
_XMP_KEY = "XML:com.adobe.xmp"


def software() -> str:
    """The Software tag's value: ``lumastyle <version>``."""
    try:
        return f"lumastyle {importlib.metadata.version('lumastyle')}"
    except importlib.metadata.PackageNotFoundError:
        return "lumastyle"


@dataclass(frozen=True)
class Metadata:
    """A photo's metadata blocks, each None when the photo has none.

    Attributes:
        exif: EXIF as Pillow's ``Image.info["exif"]`` holds it (``Exif\\0\\0`` and a TIFF structure).
        xmp: the XMP packet.
        iptc: IPTC-IIM records (the Photoshop resource 0x0404 of a JPEG, tag 33723 of a TIFF).
    """

    exif: bytes | None = None
    xmp: bytes | None = None
    iptc: bytes | None = None

    def __bool__(self) -> bool:
        return bool(self.exif or self.xmp or self.iptc)


def _as_bytes(value: Any) -> bytes | None:
    if isinstance(value, str):
        return value.encode("utf-8") or None
    if isinstance(value, (bytes, bytearray)):
        return bytes(value) or None
    return None


def from_pillow(im: Image.Image) -> Metadata:
    """The metadata of a photo opened by Pillow (JPEG, PNG; a TIFF's EXIF), before it is transposed."""
    exif = im.info.get("exif")
    if not exif and im.format == "TIFF":
        exif = _tiff_exif(im)
    xmp = im.info.get("xmp") or im.info.get(_XMP_KEY)
    iptc = None
    photoshop = im.info.get("photoshop")
    if isinstance(photoshop, dict):
        iptc = photoshop.get(0x0404)
    return Metadata(_as_bytes(exif), _as_bytes(xmp), _as_bytes(iptc))


def _tiff_exif(im: Image.Image) -> bytes | None:
    """A TIFF's first IFD as an EXIF block: the photo's tags with their Exif and GPS sub-IFDs, without
    the tags that describe the TIFF file's layout."""
    source = im.getexif()
    exif = Image.Exif()
    for tag, value in source.items():
        if tag not in _LAYOUT_TAGS and not (tag == 270 and str(value).startswith('{"shape"')):
            exif[tag] = value  # (tifffile's own description of the array is not the photo's)
    for tag in (IFD.Exif, IFD.GPSInfo):
        sub = source.get_ifd(tag)
        if sub:
            exif[tag] = dict(sub)
    return exif.tobytes() if len(exif) else None


def from_tiff(page: tifffile.TiffPage, exif: bytes | None) -> Metadata:
    """A TIFF's metadata: XMP and IPTC from ``page``'s tags (their bytes as stored, whatever type they
    are declared as), ``exif`` as :func:`from_pillow` read it (its file must be open)."""
    blocks: list[bytes | None] = []
    for code in (700, 33723):
        tag = page.tags.get(code)
        if tag is None or not tag.valuebytecount:
            blocks.append(None)
            continue
        handle = page.parent.filehandle
        handle.seek(tag.valueoffset)
        blocks.append(handle.read(tag.valuebytecount) or None)
    return Metadata(exif, blocks[0], blocks[1])


def _upright_xmp(xmp: bytes) -> bytes:
    """XMP with ``tiff:Orientation`` 1, written as an attribute or as an element."""
    xmp = re.sub(rb'(tiff:Orientation\s*=\s*["\'])\d(["\'])', rb"\g<1>1\g<2>", xmp)
    return re.sub(rb"(<tiff:Orientation>)\s*\d\s*(</tiff:Orientation>)", rb"\g<1>1\g<2>", xmp)


def for_output(meta: Metadata, width: int, height: int) -> Metadata:
    """``meta`` as the output of ``width`` x ``height`` upright pixels carries it (see the module's
    docstring). EXIF that Pillow cannot parse is left out."""
    exif = None
    if meta.exif:
        try:
            source = Image.Exif()
            source.load(meta.exif)
            out = Image.Exif()
            for tag, value in source.items():
                if tag not in (IFD.Exif, IFD.GPSInfo, IFD.Interop, 513, 514):
                    out[tag] = value
            sub = dict(source.get_ifd(IFD.Exif))
            sub.pop(IFD.Interop, None)  # written by Pillow only as a pointer: left out
            if _PIXEL_X in sub or _PIXEL_Y in sub:
                sub[_PIXEL_X], sub[_PIXEL_Y] = width, height
            if sub:
                out[IFD.Exif] = sub
            gps = dict(source.get_ifd(IFD.GPSInfo))
            if gps:
                out[IFD.GPSInfo] = gps
            out[ORIENTATION] = 1
            out[SOFTWARE] = software()
            exif = out.tobytes()
        except (SyntaxError, ValueError, TypeError, KeyError, OSError, struct.error):
            exif = None
    return Metadata(exif, _upright_xmp(meta.xmp) if meta.xmp else None, meta.iptc)


def jpeg_app13(iptc: bytes) -> bytes:
    """An APP13 segment holding ``iptc`` as Photoshop's IPTC resource (0x0404), as Photoshop and
    exiftool write it (by hand: Pillow writes no APP13)."""
    resource = b"8BIM" + struct.pack(">H", 0x0404) + b"\x00\x00" + struct.pack(">I", len(iptc)) + iptc
    if len(iptc) % 2:
        resource += b"\x00"
    body = b"Photoshop 3.0\x00" + resource
    if len(body) + 2 > 0xFFFF:
        return b""  # too large for one segment: left out
    return b"\xff\xed" + struct.pack(">H", len(body) + 2) + body


#: The most bytes one JPEG APP1 segment holds after its length field and identifier: EXIF (``Exif\0\0``
#: counted in its blob) and XMP (after its 29-byte namespace) larger than this do not fit in a JPEG.
_JPEG_EXIF_MAX = 0xFFFF - 2
_JPEG_XMP_MAX = 0xFFFF - 2 - 29


def pillow_options(meta: Metadata, format: str) -> dict[str, Any]:
    """Keyword arguments for Pillow's ``save`` that embed ``meta`` in a JPEG or a PNG. A JPEG holds an
    EXIF or XMP block of at most one segment (64 KiB; Lightroom's XMP with a long history can be
    larger): a larger one is left out of it with a one-line warning (a PNG or TIFF output keeps it)."""
    options: dict[str, Any] = {}
    too_big = []
    if meta.exif:
        if format == "JPEG" and len(meta.exif) > _JPEG_EXIF_MAX:
            too_big.append(f"EXIF ({len(meta.exif)} bytes)")
        else:
            options["exif"] = meta.exif
    if format == "JPEG":
        if meta.xmp and len(meta.xmp) > _JPEG_XMP_MAX:
            too_big.append(f"XMP ({len(meta.xmp)} bytes)")
        elif meta.xmp:
            options["xmp"] = meta.xmp
        if meta.iptc:
            options["extra"] = jpeg_app13(meta.iptc)
    elif format == "PNG" and meta.xmp:
        from PIL.PngImagePlugin import PngInfo

        info = PngInfo()
        info.add_itxt(_XMP_KEY, meta.xmp.decode("utf-8", "replace"))
        options["pnginfo"] = info
    if too_big:
        warnings.warn(
            f"{' and '.join(too_big)} is larger than one JPEG segment holds (64 KiB): left out of the JPEG; "
            "--format png or tiff keeps it",
            stacklevel=2,
        )
    return options


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_chunks(meta: Metadata, icc_profile: bytes | None) -> bytes:
    """The ``iCCP``, ``eXIf`` and ``iTXt`` (XMP) chunks of a PNG, to go before its pixels."""
    out = b""
    if icc_profile:
        out += _png_chunk(b"iCCP", b"ICC profile\x00\x00" + zlib.compress(icc_profile))
    if meta.exif:
        exif = meta.exif[len(_EXIF_HEADER) :] if meta.exif.startswith(_EXIF_HEADER) else meta.exif
        out += _png_chunk(b"eXIf", exif)
    if meta.xmp:
        out += _png_chunk(b"iTXt", _XMP_KEY.encode() + b"\x00\x00\x00\x00\x00" + meta.xmp)
    return out


def tiff_options(meta: Metadata, icc_profile: bytes | None) -> dict[str, Any]:
    """``tifffile.imwrite`` keyword arguments that embed the profile, XMP, IPTC and the EXIF's tags of
    the first IFD (Software and ImageDescription through tifffile's own arguments); the Exif and GPS
    sub-IFDs get placeholder tags that :func:`add_tiff_exif` fills in."""
    tags: list[tuple[int, int, int, Any, bool]] = []
    options: dict[str, Any] = {"extratags": tags}
    if icc_profile:
        tags.append((34675, 7, len(icc_profile), icc_profile, True))
    if meta.xmp:
        tags.append((700, 1, len(meta.xmp), meta.xmp, True))
    if meta.iptc:  # as LONGs, as exiftool and Photoshop write it (little-endian: tifffile's order)
        padded = meta.iptc + b"\x00" * (-len(meta.iptc) % 4)
        tags.append((33723, 4, len(padded) // 4, struct.unpack(f"<{len(padded) // 4}I", padded), True))
    if meta.exif:
        exif = Image.Exif()
        exif.load(meta.exif)
        for tag in _TIFF_ASCII_TAGS:
            value = exif.get(tag)
            if tag == SOFTWARE:
                options["software"] = value if isinstance(value, str) else software()
            elif tag == 270 and isinstance(value, str):
                options["description"], options["metadata"] = value, None
            elif isinstance(value, str) and value:
                tags.append((tag, 2, 0, value, True))
        orientation = exif.get(ORIENTATION)
        if orientation is not None:
            tags.append((ORIENTATION, 3, 1, int(orientation), True))
        for tag in (IFD.Exif, IFD.GPSInfo):
            if exif.get_ifd(tag):
                tags.append((_PLACEHOLDER[tag], 4, 1, 0, True))  # a LONG offset, set by add_tiff_exif
    return options


def add_tiff_exif(path: Path, exif: bytes | None) -> None:
    """Append the Exif and GPS sub-IFDs of ``exif`` to the TIFF at ``path`` and point its placeholder
    tags (:func:`tiff_options`) at them. Written by hand: tifffile writes no Exif or GPS sub-IFD, and
    Pillow's TIFF writer cannot write 16-bit RGB; each sub-IFD is serialised by Pillow's
    ``ImageFileDirectory_v2`` at the end of the file."""
    if not exif:
        return
    source = Image.Exif()
    source.load(exif)
    with tifffile.TiffFile(path) as tif:
        if tif.is_bigtiff:  # entries of another size; tifffile writes BigTIFF only above 4 GB
            return
        page = tif.pages.first
        order = tif.byteorder
        pointers = {
            tag: page.tags[code].valueoffset for tag, code in _PLACEHOLDER.items() if code in page.tags
        }
    with open(path, "r+b") as f:
        for tag, where in pointers.items():
            sub = source.get_ifd(tag)
            f.seek(where - 8)  # the entry: code (2 bytes), type (2), count (4), then the value
            f.write(struct.pack(f"{order}H", int(tag)))
            f.seek(0, 2)
            start = f.tell()
            if start % 2:
                f.write(b"\x00")
                start += 1
            ifd = TiffImagePlugin.ImageFileDirectory_v2(prefix=b"II" if order == "<" else b"MM")
            for key, value in sub.items():
                ifd[key] = value
            f.write(ifd.tobytes(start))
            f.seek(where)
            f.write(struct.pack(f"{order}I", start))
