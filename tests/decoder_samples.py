"""Tiny HEIC and DNG files the tests write themselves (tests/test_decoders.py, tests/test_hostile_files.py).

The DNG is written by hand from the DNG 1.4 specification's tags (no maintained Python library
writes one; Pillow's TIFF writer drops an Exif sub-IFD given with custom tags), with Pillow's IFD
encoder: a 16-bit RGGB Bayer mosaic of a scene given in linear, white-balanced camera RGB, as a
camera with the as-shot neutral ``neutral`` records it.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pillow_heif
from PIL import Image, ImageCms, TiffImagePlugin
from PIL.TiffImagePlugin import IFDRational

BLACK, WHITE = 256, 4095  # the test camera's black and white levels (12 bit)
NEUTRAL = (0.5, 1.0, 0.8)  # its as-shot neutral: red and blue recorded at half and 0.8 of green
EXIF = {0x829A: IFDRational(1, 125), 0x829D: IFDRational(28, 10), 0x8827: 400, 0x9003: "2024:05:01 12:00:00"}
XMP = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    b'<rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/" dc:title="lumastyle test"/>'
    b"</rdf:RDF></x:xmpmeta>"
)


def mosaic(scene: np.ndarray, neutral: tuple[float, float, float] = NEUTRAL) -> np.ndarray:
    """(H, W, 3) linear white-balanced scene in [0, 1] -> the (H, W) uint16 RGGB mosaic a camera
    with that as-shot neutral records (a white surface reads ``neutral`` times the white level)."""
    h, w, _ = scene.shape
    channel = np.zeros((h, w), np.intp)  # R G / G B
    channel[0::2, 1::2] = 1
    channel[1::2, 0::2] = 1
    channel[1::2, 1::2] = 2
    camera = scene * np.asarray(neutral)
    sample = np.take_along_axis(camera, channel[..., None], axis=2)[..., 0]
    return np.round(BLACK + np.clip(sample, 0, 1) * (WHITE - BLACK)).astype(np.uint16)


def dng_bytes(
    scene: np.ndarray, orientation: int = 1, neutral: tuple[float, float, float] = NEUTRAL, xmp: bytes = XMP
) -> bytes:
    """A DNG 1.4 file of ``scene`` (see :func:`mosaic`): Make/Model, Orientation, an Exif IFD of
    :data:`EXIF`, XMP; the colour matrix is the identity (camera RGB read as XYZ, which LibRaw then
    balances so that the camera's neutral renders neutral)."""
    pixels = mosaic(scene, neutral)
    h, w = pixels.shape
    ifd = TiffImagePlugin.ImageFileDirectory_v2(prefix=b"II")
    tags: list[tuple[int, object, int]] = [
        (254, 0, 4),  # NewSubfileType: the main image
        (256, w, 4), (257, h, 4), (258, 16, 3), (259, 1, 3),
        (262, 32803, 3),  # PhotometricInterpretation: CFA
        (271, "Lumastyle", 2), (272, "Test Camera", 2), (274, orientation, 3),
        (273, 0, 4), (277, 1, 3), (278, h, 4), (279, pixels.nbytes, 4), (284, 1, 3),
        (700, xmp, 1),
        (33421, (2, 2), 3), (33422, b"\x00\x01\x01\x02", 1),  # CFARepeatPatternDim, CFAPattern: RGGB
        (50706, b"\x01\x04\x00\x00", 1), (50707, b"\x01\x01\x00\x00", 1),  # DNGVersion, BackwardVersion
        (50708, "Lumastyle Test Camera", 2),
        (50714, (BLACK,), 4), (50717, (WHITE,), 4),  # BlackLevel, WhiteLevel
        (50721, tuple(IFDRational(int(i == j)) for i in range(3) for j in range(3)), 10),  # ColorMatrix1
        (50728, tuple(IFDRational(round(v * 1000), 1000) for v in neutral), 5),  # AsShotNeutral
        (50778, 21, 3),  # CalibrationIlluminant1: D65
    ]  # fmt: skip
    for tag, value, kind in tags:
        ifd[tag] = value
        ifd.tagtype[tag] = kind
    ifd[0x8769] = dict(EXIF)  # Pillow writes a dict as a sub-IFD
    ifd.tagtype[0x8769] = 4
    # StripOffsets 0: Pillow's encoder adds the end of the IFDs' data to it, so the strip follows them
    return b"II*\x00" + struct.pack("<I", 8) + ifd.tobytes(8) + pixels.astype("<u2").tobytes()


def write_dng(path: Path, scene: np.ndarray, **kwargs) -> Path:
    path.write_bytes(dng_bytes(scene, **kwargs))
    return path


def srgb_profile() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def exif_bytes(orientation: int = 1) -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "Apple"
    exif[0x0112] = orientation
    exif[0x8769] = dict(EXIF)
    return exif.tobytes()


def write_heic(path: Path, rgb: np.ndarray, lossless: bool = True, **kwargs) -> Path:
    """``rgb`` (H, W, 3) uint8, or uint16 holding 10-bit values shifted left by 6, as a HEIC;
    ``lossless``: HEVC lossless in RGB (4:4:4, identity matrix), so the pixels come back exactly.
    ``kwargs``: pillow-heif's save options (``icc_profile``, ``exif``, ``xmp``, nclx fields)."""
    mode = "RGB;16" if rgb.dtype == np.uint16 else "RGB"
    heif = pillow_heif.from_bytes(mode, (rgb.shape[1], rgb.shape[0]), np.ascontiguousarray(rgb).tobytes())
    options = {"quality": -1, "chroma": 444, "matrix_coefficients": 0} if lossless else {"quality": 90}
    heif.save(path, **options, **kwargs)
    return path
