"""Colour profiles through lumastyle's photo I/O (issue 29): a photo tagged with an ICC profile is read
in sRGB and written back in its profile; colour-science (and LittleCMS through Pillow's ImageCms) are
the independent references. Needs Debian's colord-data for the profiles."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch
from PIL import Image, ImageCms

from lumastyle.cli import main
from lumastyle.io import read_image, read_photo, write_image
from lumastyle.profiles import converter

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # colour-science warns that matplotlib is missing
    import colour

COLORD = Path("/usr/share/color/icc/colord")
SRGB = colour.RGB_COLOURSPACES["sRGB"]
ADOBE = colour.RGB_COLOURSPACES["Adobe RGB (1998)"]
PROPHOTO = colour.RGB_COLOURSPACES["ProPhoto RGB"]


def icc(name: str) -> bytes:
    path = COLORD / name
    if not path.is_file():
        pytest.skip(f"{path} missing: install Debian's colord-data")
    return path.read_bytes()


def encode(srgb: np.ndarray, space) -> np.ndarray:
    """sRGB in [0, 1] -> ``space``'s values (relative colorimetric, Bradford), by colour-science. colord's
    ProPhoto profile has a pure 1.8 gamma (ROMM's has a linear toe), so its curve is applied here."""
    linear = colour.RGB_to_RGB(srgb, SRGB, space, "Bradford", apply_cctf_decoding=True)
    if space is PROPHOTO:
        return np.clip(linear, 0, 1) ** (1 / 1.8)
    return space.cctf_encoding(np.clip(linear, 0, 1))


def decode(values: np.ndarray, space) -> np.ndarray:
    """``space``'s values in [0, 1] -> sRGB, by colour-science (the inverse of :func:`encode`)."""
    linear = values ** 1.8 if space is PROPHOTO else space.cctf_decoding(values)
    return np.clip(colour.RGB_to_RGB(linear, space, SRGB, "Bradford", apply_cctf_encoding=True), 0, 1)


def lab(srgb: np.ndarray) -> np.ndarray:
    return colour.XYZ_to_Lab(colour.sRGB_to_XYZ(srgb), SRGB.whitepoint)


def delta_e(a: np.ndarray, b: np.ndarray) -> float:
    """Mean ΔE76 between two sRGB images."""
    return float(np.linalg.norm(lab(a) - lab(b), axis=-1).mean())


def colourful(h: int = 32, w: int = 48, seed: int = 0) -> np.ndarray:
    """Blocks of 8x8 pixels (JPEG's blocks: little lost to compression) of random, often saturated
    sRGB colours, as 8-bit values in [0, 1]."""
    rng = np.random.default_rng(seed)
    blocks = rng.random((h // 8, w // 8, 3)) ** 1.5 * 0.9 + 0.05
    return np.round(np.kron(blocks, np.ones((8, 8, 1))) * 255) / 255


def stored(path: Path) -> tuple[np.ndarray, bytes | None]:
    """An output's pixels as stored, in [0, 1], and its embedded ICC profile."""
    if path.suffix == ".tif":
        with tifffile.TiffFile(path) as tif:
            tag = tif.pages[0].tags.get(34675)
            return tif.pages[0].asarray() / 65535.0, tag.value if tag else None
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB")) / 255.0, im.info.get("icc_profile")


@pytest.fixture
def tagged(tmp_path) -> tuple[Path, np.ndarray]:
    """The same photo four times: untagged sRGB, an Adobe RGB JPEG, a 16-bit ProPhoto TIFF and a PNG
    whose data has red and green swapped under a profile that swaps them back."""
    adobe, prophoto, swapped = icc("AdobeRGB1998.icc"), icc("ProPhotoRGB.icc"), icc("SwappedRedAndGreen.icc")
    src = tmp_path / "in"
    src.mkdir()
    photo = colourful()
    Image.fromarray(np.uint8(np.round(photo * 255))).save(src / "srgb.png")
    Image.fromarray(np.uint8(np.round(encode(photo, ADOBE) * 255))).save(
        src / "adobe.jpg", quality=98, subsampling=0, icc_profile=adobe
    )
    tifffile.imwrite(
        src / "prophoto.tif",
        np.uint16(np.round(encode(photo, PROPHOTO) * 65535)),
        photometric="rgb",
        extratags=[(34675, 7, len(prophoto), prophoto, True)],
    )
    Image.fromarray(np.uint8(np.round(photo[:, :, [1, 0, 2]] * 255))).save(src / "swapped.png", icc_profile=swapped)
    return src, photo


def test_tagged_photos_are_stylized_like_the_srgb_original(quick_checkpoint, tagged, tmp_path):
    """Each output, read through its embedded profile (the input's) by colour-science or LittleCMS, is
    within mean ΔE76 2 of the sRGB original's output; read as if it were sRGB, it is not (the test
    would catch a profile ignored on the way in or out). The untagged photo's output has no profile."""
    src, _ = tagged
    out = tmp_path / "out"
    main(["stylize", "--ckpt", str(quick_checkpoint), "--input", str(src), "--output", str(out)])
    reference, profile = stored(out / "srgb.png")
    assert profile is None
    for name, space, profile_name in [
        ("adobe.jpg", ADOBE, "AdobeRGB1998.icc"),
        ("prophoto.tif", PROPHOTO, "ProPhotoRGB.icc"),
        ("swapped.png", None, "SwappedRedAndGreen.icc"),
    ]:
        values, embedded = stored(out / name)
        assert embedded == icc(profile_name), name
        if space is None:  # LittleCMS, through Pillow, is the reference for the swap
            with Image.open(out / name) as im:
                source = ImageCms.ImageCmsProfile(ImageCms.core.profile_frombytes(embedded))
                srgb = np.asarray(ImageCms.profileToProfile(im, source, ImageCms.createProfile("sRGB"))) / 255.0
        else:
            srgb = decode(values, space)
        assert delta_e(srgb, reference) < 2.0, name
        assert delta_e(values, reference) > 2.0, name  # the profile matters for this photo


def test_output_profile_srgb_writes_srgb_with_an_srgb_profile(quick_checkpoint, tagged, tmp_path):
    src, _ = tagged
    main(["stylize", "--ckpt", str(quick_checkpoint), "--input", str(src), "--output", str(tmp_path / "a")])
    main(
        ["stylize", "--ckpt", str(quick_checkpoint), "--input", str(src), "--output", str(tmp_path / "b"),
         "--output_profile", "srgb"]
    )  # fmt: skip
    reference, _ = stored(tmp_path / "a" / "srgb.png")
    for name in ("srgb.png", "adobe.jpg", "prophoto.tif", "swapped.png"):
        values, embedded = stored(tmp_path / "b" / name)
        assert embedded is not None and converter(embedded).srgb, name
        assert ImageCms.getProfileDescription(ImageCms.core.profile_frombytes(embedded)).startswith("sRGB")
        assert delta_e(values, reference) < 2.0, name


def test_a_training_photo_with_a_profile_reads_converted(tagged):
    """read_image (every training pair, every caller) gives the sRGB colours colour-science gives."""
    src, photo = tagged
    for name in ("adobe.jpg", "prophoto.tif", "swapped.png"):
        image, _ = read_image(src / name)
        assert delta_e(image.permute(1, 2, 0).numpy().astype(np.float64), photo) < 1.0, name
    untagged, _ = read_image(src / "srgb.png")
    assert torch.equal(untagged, torch.from_numpy(photo).float().permute(2, 0, 1))


def test_sixteen_bits_keep_their_precision_both_ways(tmp_path):
    """A 16-bit ProPhoto ramp of 1/65535 steps reads as colour-science's sRGB with thousands of distinct
    values, its difference from colour-science the same from one code to the next (within 2e-5: the
    profile's rounded numbers make a smooth ~2.5e-4); sRGB written to a 16-bit ProPhoto TIFF lands
    within 1e-4 of colour-science's values, as smoothly. Rounding through 8 bits would make steps of
    ~1/255 and 256 values a channel."""
    prophoto = icc("ProPhotoRGB.icc")
    codes = np.arange(16384, 16384 + 4096, dtype=np.uint16)  # encoded 0.25-0.31: mid-dark tones
    ramp = np.stack([codes, codes[::-1], (codes // 2 + 20000).astype(np.uint16)], axis=-1).reshape(64, 64, 3)
    tifffile.imwrite(tmp_path / "ramp.tif", ramp, photometric="rgb", extratags=[(34675, 7, len(prophoto), prophoto, True)])
    photo = read_photo(tmp_path / "ramp.tif")
    got = photo.image.permute(1, 2, 0).numpy().astype(np.float64)
    expected = decode(ramp / 65535.0, PROPHOTO)
    assert photo.bit_depth == 16 and photo.profile == prophoto
    assert np.abs(got - expected).max() < 1e-3  # the profile's rounded matrix and white: ~2.5e-4
    assert len(np.unique(got[:, :, 0])) > 2000
    # from one code to the next the difference from colour-science moves by ~nothing: no rounding steps
    assert np.abs(np.diff((got - expected).reshape(-1, 3), axis=0)).max() < 2e-5

    srgb = expected  # back: sRGB -> a 16-bit ProPhoto TIFF
    write_image(tmp_path / "back.tif", torch.from_numpy(srgb).float().permute(2, 0, 1), 16, profile=prophoto)
    values, embedded = stored(tmp_path / "back.tif")
    assert embedded == prophoto
    assert np.abs(values - encode(srgb, PROPHOTO)).max() < 1e-4
    assert np.abs(np.diff((values - encode(srgb, PROPHOTO)).reshape(-1, 3), axis=0)).max() < 3e-5


def test_an_srgb_profile_and_a_gray_one_leave_the_pixels_as_they_are(tmp_path):
    """colord's sRGB profile is taken as sRGB (pixels unchanged, profile kept); a profile of another
    colour space is not used."""
    photo = np.uint8(np.round(colourful() * 255))
    Image.fromarray(photo).save(tmp_path / "srgb.png", icc_profile=icc("sRGB.icc"))
    read = read_photo(tmp_path / "srgb.png")
    assert read.profile == icc("sRGB.icc")
    assert torch.equal(read.image, torch.from_numpy(photo).float().permute(2, 0, 1) / 255)
    gray = ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes()  # not an RGB profile
    Image.fromarray(photo).save(tmp_path / "other.png", icc_profile=gray)
    read = read_photo(tmp_path / "other.png")
    assert read.profile is None
    assert torch.equal(read.image, torch.from_numpy(photo).float().permute(2, 0, 1) / 255)


def test_eight_bit_levels_are_kept_only_where_no_profile_converts_them(tagged, tmp_path):
    """read_photo(levels=True) keeps an 8-bit sRGB photo's levels (an sRGB profile too) and reads one
    its profile converts (Adobe RGB) as float, converted; 16-bit photos stay float."""
    src, _ = tagged
    photo = np.uint8(np.round(colourful() * 255))
    Image.fromarray(photo).save(tmp_path / "srgb.png", icc_profile=icc("sRGB.icc"))
    for path in (tmp_path / "srgb.png", src / "srgb.png"):
        read = read_photo(path, levels=True)
        assert read.image.dtype == torch.uint8 and read.bit_depth == 8
        assert torch.equal(read.image.float() / 255, read_photo(path).image)
    assert read_photo(tmp_path / "srgb.png", levels=True).profile == icc("sRGB.icc")
    for name in ("adobe.jpg", "prophoto.tif"):
        read = read_photo(src / name, levels=True)
        assert read.image.dtype == torch.float32
        assert torch.equal(read.image, read_photo(src / name).image)
