"""HEIC/HEIF and camera RAW photos (lumastyle.decoders, issue 29), on files the tests write themselves
(tests/decoder_samples.py): a HEIC keeps its pixels, profile and metadata and is upright; a DNG of
known patches renders through LibRaw with the camera's white balance, the sRGB curve and no
brightening; broken files are one line naming the file; size() agrees with decode()."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import smooth_photo, toy_style
from decoder_samples import EXIF, XMP, exif_bytes, srgb_profile, write_dng, write_heic
from PIL import Image, ImageCms

from lumastyle import decoders
from lumastyle.errors import BadFileError
from lumastyle.io import IMAGE_SUFFIXES, output_name, read_image, write_image


def _exif(blob: bytes | None) -> tuple[dict, dict]:
    assert blob is not None and blob.startswith(b"Exif\x00\x00")
    exif = Image.Exif()
    exif.load(blob)
    return dict(exif), dict(exif.get_ifd(0x8769))


def _noise(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


# ---------------------------------------------------------------------------------------------- HEIC


def test_a_lossless_heic_keeps_its_pixels_profile_exif_and_xmp(tmp_path):
    rgb = _noise(24, 40)
    icc = srgb_profile()
    path = write_heic(tmp_path / "a.heic", rgb, icc_profile=icc, exif=exif_bytes(), xmp=XMP)
    out = decoders.decode(path)
    assert out.array.dtype == np.uint8 and np.array_equal(out.array, rgb)  # HEVC lossless, RGB 4:4:4
    assert out.icc_profile == icc and out.xmp == XMP
    ifd0, sub = _exif(out.exif)
    assert ifd0[0x010F] == "Apple" and ifd0.get(0x0112, 1) == 1
    assert sub[0x8827] == EXIF[0x8827] and sub[0x9003] == EXIF[0x9003]
    assert decoders.size(path) == (40, 24)
    info = decoders.metadata(path)  # the same without the pixels
    assert (info.icc_profile, info.exif, info.xmp) == (out.icc_profile, out.exif, out.xmp) and info.array.size == 0


def test_a_heic_is_upright_and_its_orientation_tag_says_so(tmp_path):
    """pillow-heif writes EXIF orientation 6 as the HEIF's own rotation (irot), which libheif applies:
    the pixels come back turned 90° clockwise, and the EXIF carried along must not turn them again."""
    rgb = _noise(24, 40, seed=1)
    path = write_heic(tmp_path / "turned.HEIC", rgb, exif=exif_bytes(orientation=6))
    out = decoders.decode(path)
    assert np.array_equal(out.array, np.rot90(rgb, -1))
    assert _exif(out.exif)[0][0x0112] == 1
    assert decoders.size(path) == (24, 40) == out.array.shape[1::-1]


def test_a_lossy_heic_decodes_close_to_its_source(tmp_path):
    """The usual iPhone coding (YCbCr 4:2:0, quality 90) of smooth gradients: the decoded colours are
    within 2 levels of the source on average (a wrong YCbCr matrix or range would shift them ~10)."""
    ys, xs = np.mgrid[0:32, 0:48]
    rgb = np.stack([40 + 4 * xs, 60 + 5 * ys, 200 - 2 * xs - ys], axis=2).clip(0, 255).astype(np.uint8)
    out = decoders.decode(write_heic(tmp_path / "lossy.heic", rgb, lossless=False))
    assert out.array.shape == rgb.shape and out.icc_profile is None
    assert np.abs(out.array.astype(float) - rgb).mean(axis=(0, 1)).max() < 2.0


def test_a_10_bit_heic_is_16_bit_over_the_full_range(tmp_path):
    ten = np.random.default_rng(2).integers(0, 1024, (8, 12, 3), dtype=np.uint16)
    ten[0, 0] = 1023  # white must be 65535, not 1023 << 6
    path = write_heic(tmp_path / "ten.heif", ten << 6)
    out = decoders.decode(path)
    assert out.array.dtype == np.uint16 and out.array[0, 0].tolist() == [65535] * 3
    assert np.abs(out.array.astype(float) - ten * (65535 / 1023)).max() <= 0.5
    assert out.icc_profile is None  # its nclx box says BT.709 primaries, sRGB curve: sRGB


def test_a_heic_in_display_p3_by_nclx_gets_a_profile_that_converts_like_colour_science(tmp_path):
    had_matplotlib = "matplotlib" in sys.modules
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # colour-science warns that matplotlib is missing
        import colour
    if not had_matplotlib:  # colour-science leaves a stand-in module there, which breaks Lightning's
        sys.modules.pop("matplotlib", None)  # find_spec("matplotlib") in any later fit of this process

    rgb = np.array([[[200, 100, 50], [30, 180, 90], [90, 60, 220], [128, 128, 128]]], np.uint8)
    path = write_heic(tmp_path / "p3.heic", rgb, color_primaries=12, transfer_characteristics=13)
    out = decoders.decode(path)
    assert out.icc_profile is not None
    profile = ImageCms.ImageCmsProfile(io.BytesIO(out.icc_profile))
    srgb = ImageCms.createProfile("sRGB")
    converted = ImageCms.profileToProfile(Image.fromarray(out.array), profile, srgb, renderingIntent=1)
    expected = colour.RGB_to_RGB(rgb / 255.0, "Display P3", "sRGB", apply_cctf_decoding=True, apply_cctf_encoding=True)
    # (30, 180, 90) is outside sRGB: its red clips to 0 in both
    assert np.abs(np.asarray(converted) / 255.0 - expected.clip(0, 1)).max() < 2.5 / 255


def test_the_nclx_profile_converts_p3_primaries_as_colour_science_does(tmp_path):
    """The profile a Display P3 nclx box gets takes P3's red, green, blue and white to the linear sRGB
    colour-science computes (Bradford-adapted), within 2e-3 in LittleCMS's unbounded float transform
    (1.7e-4 seen); a profile with P3's red x 0.02 off (0.66) is off by 0.015, so the check sees it."""
    from lumastyle.profiles import _lcms, _linear_srgb

    had_matplotlib = "matplotlib" in sys.modules
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # colour-science warns that matplotlib is missing
        import colour
    if not had_matplotlib:  # as above: no stand-in module left for Lightning to find
        sys.modules.pop("matplotlib", None)

    path = write_heic(tmp_path / "p3.heic", _noise(4, 4), color_primaries=12, transfer_characteristics=13)
    icc = decoders.decode(path).icc_profile
    assert icc is not None
    p3 = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 1.0, 1.0], [0.8, 0.5, 0.2]])
    expected = colour.RGB_to_RGB(p3, "Display P3", "sRGB", "Bradford", apply_cctf_decoding=True)
    got = _lcms(p3, icc, _linear_srgb())
    assert np.abs(got - expected).max() < 2e-3
    off = decoders._nclx_icc([(0.66, 0.32), (0.265, 0.69), (0.15, 0.06)], (0.3127, 0.3290))
    assert np.abs(_lcms(p3, off, _linear_srgb()) - expected).max() > 0.01


def test_an_hdr_heic_is_refused_in_one_line(tmp_path):
    path = write_heic(tmp_path / "pq.heic", _noise(8, 8), color_primaries=9, transfer_characteristics=16)
    with pytest.raises(BadFileError, match=r"pq\.heic: an HDR HEIF \(PQ\) is not supported"):
        decoders.decode(path)


# ----------------------------------------------------------------------------------------------- DNG

# linear, white-balanced scene values of the DNG's patches (rows of 16 px by columns of 16 px)
PATCHES = {"dark": 0.05, "mid": 0.15, "light": 0.35}
RED = (0.2, 0.04, 0.03)  # its rendering stays below white: nothing clips, so brightening would show


def _scene(h: int = 48, w: int = 64) -> np.ndarray:
    """Left to right: dark, mid and light grey, then a red patch, each 16 px wide."""
    scene = np.zeros((h, w, 3))
    for k, value in enumerate(PATCHES.values()):
        scene[:, 16 * k : 16 * (k + 1)] = value
    scene[:, 48:] = RED
    return scene


def _srgb(linear: float) -> float:
    return float(np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * linear ** (1 / 2.4) - 0.055))


def _centre(array: np.ndarray, column: int) -> np.ndarray:
    """Mean colour in [0, 1] of the middle of patch ``column`` (away from demosaicing's edges)."""
    return array[12:36, 16 * column + 5 : 16 * column + 11].reshape(-1, 3).mean(axis=0) / 65535.0


def test_a_dng_renders_with_the_camera_white_balance_and_the_srgb_curve(tmp_path):
    """The camera recorded red at half and blue at 0.8 of green (its as-shot neutral): under the
    camera's white balance each grey patch is grey again, at the sRGB encoding of its linear value
    (no brightening; BT.709's curve, LibRaw's default, would give 0.37 for 0.15 instead of 0.42; dcraw's default brightening 0.32 for 0.05 instead of 0.25)."""
    path = write_dng(tmp_path / "shot.dng", _scene())
    out = decoders.decode(path)
    assert out.array.dtype == np.uint16 and out.array.shape == (48, 64, 3)
    assert out.icc_profile is None  # sRGB
    greys = []
    for column, linear in enumerate(PATCHES.values()):
        colour = _centre(out.array, column)
        assert colour.max() - colour.min() < 0.01, (linear, colour)  # grey, not tinted by the camera
        assert abs(colour.mean() - _srgb(linear)) < 0.01, (linear, colour.mean(), _srgb(linear))
        greys.append(colour.mean())
    assert greys == sorted(greys)
    red = _centre(out.array, 3)
    assert 0.4 < red[0] < 0.95 and red[0] > 2 * red[1] and red[0] > 2 * red[2]
    assert decoders.size(path) == (64, 48)


def test_a_dng_is_turned_by_its_orientation(tmp_path):
    upright = decoders.decode(write_dng(tmp_path / "a.dng", _scene())).array
    path = write_dng(tmp_path / "b.dng", _scene(), orientation=6)  # 90° clockwise
    out = decoders.decode(path).array
    assert out.shape == (64, 48, 3) and decoders.size(path) == (48, 64)
    assert np.abs(out.astype(int) - np.rot90(upright, -1)).max() <= 1


def test_a_dng_carries_its_exif_and_xmp(tmp_path):
    path = write_dng(tmp_path / "meta.dng", _scene())
    out = decoders.decode(path)
    info = decoders.metadata(path)  # the same without the pixels
    assert (info.icc_profile, info.exif, info.xmp) == (None, out.exif, out.xmp) and info.array.size == 0
    ifd0, sub = _exif(out.exif)
    assert ifd0[0x010F] == "Lumastyle" and ifd0[0x0110] == "Test Camera" and ifd0[0x0112] == 1
    assert not {0x0111, 0x0117, 0x014A, 0xC612} & set(ifd0)  # nothing that points into the RAW
    assert {tag: sub[tag] for tag in EXIF} == EXIF
    assert out.xmp == XMP


def test_exiftool_reads_a_dng_s_exif_carried_into_a_jpeg(tmp_path):
    exiftool = shutil.which("exiftool")
    if exiftool is None:
        pytest.skip("exiftool is not installed (Debian package libimage-exiftool-perl)")
    out = decoders.decode(write_dng(tmp_path / "meta.dng", _scene()))
    jpeg = tmp_path / "out.jpg"
    Image.fromarray((out.array >> 8).astype(np.uint8)).save(jpeg, exif=out.exif)
    text = subprocess.run(
        [exiftool, "-s", "-Make", "-ISO", "-ExposureTime", "-DateTimeOriginal", str(jpeg)],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    for line in ("Make", "Lumastyle"), ("ISO", "400"), ("ExposureTime", "1/125"), ("DateTimeOriginal", "2024:05:01"):
        assert any(r.split(":")[0].strip() == line[0] and line[1] in r for r in text.splitlines()), text


# ------------------------------------------------------------------------------------------ bad files


def _bad(tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    if name.startswith("random"):
        path.write_bytes(np.random.default_rng(3).bytes(3000))
    elif name.startswith("empty"):
        path.write_bytes(b"")
    elif name.startswith("half"):
        good = write_heic(tmp_path / "good.heic", _noise(24, 40)) if name.endswith(".heic") else None
        good = good or write_dng(tmp_path / "good.dng", _scene())
        path.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    elif name.startswith("short"):  # a byte short: the end of the last box or strip is missing
        good = write_heic(tmp_path / "good.heic", _noise(24, 40), xmp=XMP) if name.endswith(".heic") else None
        good = good or write_dng(tmp_path / "good.dng", _scene())
        path.write_bytes(good.read_bytes()[:-1])
    return path


@pytest.mark.parametrize(
    "name",
    ["random.heic", "random.dng", "random.nef", "empty.heic", "empty.cr3", "half.heic", "half.dng",
     "short.heic", "short.dng", "missing.arw"],
)  # fmt: skip
def test_a_broken_file_is_one_line_naming_it(tmp_path, name):
    path = _bad(tmp_path, name)
    loads = (decoders.decode,) if name.startswith(("half", "short")) else (decoders.decode, decoders.size)
    for load in loads:  # a cut-short file's header is whole: its size reads, its pixels do not
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with pytest.raises(BadFileError) as info:
                load(path)
        message = str(info.value)
        assert message.startswith(f"{path}: ") and "\n" not in message, message


@pytest.mark.parametrize("name", ["big.heic", "big.dng"])
def test_the_pixel_limit_applies_before_decoding(tmp_path, name):
    path = write_heic(tmp_path / name, _noise(24, 40)) if name.endswith(".heic") else write_dng(tmp_path / name, _scene())
    for load in (decoders.decode, decoders.size):
        with pytest.raises(BadFileError, match=r"above the 0\.0005 MP limit.*--max_pixels"):
            load(path, max_pixels=500)
    assert decoders.decode(path, max_pixels=64 * 48).array.shape[:2] in ((24, 40), (48, 64))


def test_every_decoder_suffix_is_lower_case_and_distinct():
    assert len(set(decoders.SUFFIXES)) == len(decoders.SUFFIXES)
    assert all(s == s.lower() and s.startswith(".") for s in decoders.SUFFIXES)
    assert {".heic", ".heif", ".dng", ".cr2", ".cr3", ".nef", ".arw", ".raf", ".rw2", ".orf"} <= set(decoders.SUFFIXES)


# ------------------------------------------------------------------------------- through the commands

#: the readers take these suffixes (lumastyle.io.IMAGE_SUFFIXES includes decoders.SUFFIXES)
wired = pytest.mark.skipif(
    not set(decoders.SUFFIXES) <= set(IMAGE_SUFFIXES), reason="lumastyle.io does not read HEIC and RAW yet"
)


def _smooth_rgb(h: int, w: int, seed: int) -> np.ndarray:
    return np.round(smooth_photo(h, w, seed).permute(1, 2, 0).numpy() * 255).astype(np.uint8)


@wired
def test_stylize_writes_a_heic_and_a_raw_with_their_metadata(quick_checkpoint, tmp_path, monkeypatch):
    from lumastyle.cli import main
    from lumastyle.loading import TrainedNetwork

    def brighter(self, rgb, *args, **kwargs):  # an 8-bit photo comes as its levels
        return (rgb.float() / 255 if rgb.dtype == torch.uint8 else rgb).clamp(0, 1) ** 0.8

    # a fixed colour change stands for the network: this is about reading and writing
    monkeypatch.setattr(TrainedNetwork, "stylize", brighter)
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    write_heic(src / "a.HEIC", _smooth_rgb(24, 32, seed=1), exif=exif_bytes(orientation=6))
    write_dng(src / "b.dng", _scene())
    main(["stylize", "--ckpt", str(quick_checkpoint), "--input", str(src), "--output", str(out)])
    assert sorted(p.name for p in out.iterdir()) == sorted(output_name(src / n, "auto") for n in ("a.HEIC", "b.dng"))
    for name, make, depth, tolerance in (("a.HEIC", "Apple", 8, 3 / 255), ("b.dng", "Lumastyle", 16, 1 / 255)):
        written = out / output_name(src / name, "auto")
        before, _ = read_image(src / name)
        after, written_depth = read_image(written)
        assert after.shape == before.shape and written_depth == depth  # upright: the HEIC turned once
        assert (after - before.clamp(0, 1) ** 0.8).abs().mean() < tolerance, name
        with Image.open(written) as im:
            assert im.getexif().get(0x010F) == make and im.getexif().get(0x0112, 1) == 1, name


@wired
@pytest.mark.skipif(output_name(Path("a.heic"), "auto") == "a.png", reason="io.output_name: HEIC -> JPEG, RAW -> TIFF not applied yet")
def test_auto_writes_a_heic_as_jpeg_and_a_raw_as_16_bit_tiff():
    assert output_name(Path("IMG_1.HEIC"), "auto") == "IMG_1.jpg"
    assert output_name(Path("IMG_1.CR3"), "auto") == output_name(Path("IMG_1.dng"), "auto").replace("dng", "CR3") == "IMG_1.tif"


@wired
def test_fit_trains_on_raw_originals_and_their_exported_jpegs(tmp_path):
    """The pair photographers have: input/pK.dng (the RAW) and target/pK.jpg (the edit they exported)."""
    from conftest import QUICK

    from lumastyle.cli import main

    root = tmp_path / "pairs"
    for k in range(4):
        scene = smooth_photo(40, 56, seed=k).permute(1, 2, 0).numpy() ** 2.2  # linear light
        (root / "input").mkdir(parents=True, exist_ok=True)
        raw = write_dng(root / "input" / f"p{k}.dng", scene)
        rgb, depth = read_image(raw)
        assert depth == 16 and rgb.shape == (3, 40, 56)
        write_image(root / "target" / f"p{k}.jpg", toy_style(rgb))
    main(["fit", "--config", "pairs", *QUICK, "--trainer.max_epochs", "1", "--data.root", str(root),
          "--trainer.default_root_dir", str(tmp_path / "runs"), "--trainer.logger.name", "raw"])  # fmt: skip
    assert (tmp_path / "runs" / "raw" / "version_0" / "checkpoints" / "last.ckpt").is_file()
