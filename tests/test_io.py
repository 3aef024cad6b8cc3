"""Photo reading and writing: bit depths, formats, EXIF orientation, broken files, atomic writes."""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch
from PIL import Image

from lumastyle.errors import LumastyleError
from lumastyle.io import (
    atomic_path,
    max_pixels,
    output_name,
    read_image,
    read_size,
    write_image,
)


@pytest.mark.parametrize(
    ("name", "depth", "tol"),
    [("a.png", 8, 2 / 255), ("a.png", 16, 1e-4), ("a.tif", 16, 1e-4), ("a.tif", 8, 2 / 255)],
)
def test_round_trip(tmp_path: Path, name, depth, tol):
    rgb = torch.rand(3, 9, 13)
    write_image(tmp_path / name, rgb, bit_depth=depth)
    back, read_depth = read_image(tmp_path / name)
    assert read_depth == depth and back.shape == (3, 9, 13) and back.dtype == torch.float32
    assert (back - rgb).abs().max() <= tol


def test_16bit_png_readable_by_pillow(tmp_path: Path):
    rgb = torch.rand(3, 5, 7)
    write_image(tmp_path / "x.png", rgb, bit_depth=16)
    with Image.open(tmp_path / "x.png") as im:
        assert im.size == (7, 5)


def test_16bit_tiff_from_tifffile(tmp_path: Path):
    array = (np.random.rand(6, 8, 3) * 65535).astype(np.uint16)
    tifffile.imwrite(tmp_path / "x.tif", array, photometric="rgb")
    rgb, depth = read_image(tmp_path / "x.tif")
    assert depth == 16
    assert torch.allclose(rgb, torch.from_numpy(array / 65535.0).permute(2, 0, 1).float(), atol=1e-6)


def test_grayscale_and_alpha(tmp_path: Path):
    Image.fromarray(np.full((4, 5), 128, np.uint8)).save(tmp_path / "g.png")
    Image.fromarray(np.full((4, 5, 4), 200, np.uint8), "RGBA").save(tmp_path / "a.png")
    assert read_image(tmp_path / "g.png")[0].shape == (3, 4, 5)
    assert read_image(tmp_path / "a.png")[0].shape == (3, 4, 5)


def test_exif_orientation_applied(tmp_path: Path):
    array = np.zeros((4, 6, 3), np.uint8)
    array[0, :, 0] = 255  # top row red
    im = Image.fromarray(array)
    exif = im.getexif()
    exif[0x0112] = 6  # rotate 90 CW to display
    im.save(tmp_path / "r.jpg", exif=exif.tobytes(), quality=100)
    rgb, _ = read_image(tmp_path / "r.jpg")
    assert rgb.shape == (3, 6, 4)
    assert read_size(tmp_path / "r.jpg") == (4, 6)
    assert rgb[0, :, -1].mean() > rgb[0, :, 0].mean() + 0.3  # the red top row is now the right column


def test_truncated_jpeg_is_one_line(tmp_path: Path):
    write_image(tmp_path / "t.jpg", torch.rand(3, 64, 64))
    data = (tmp_path / "t.jpg").read_bytes()
    (tmp_path / "t.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(LumastyleError, match=r"t\.jpg: cannot read") as info:
        read_image(tmp_path / "t.jpg")
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("name", ["n.png", "n.tif", "n.jpg"])
def test_not_an_image(tmp_path: Path, name):
    (tmp_path / name).write_text("not an image")
    with pytest.raises(LumastyleError, match=name):
        read_image(tmp_path / name)


def test_atomic_write_leaves_nothing_on_failure(tmp_path: Path):
    target = tmp_path / "out.png"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_bytes(b"partial")
        raise RuntimeError("killed mid-write")
    assert list(tmp_path.iterdir()) == []


def test_output_name():
    assert output_name(Path("a/b.jpg")) == "b.png"
    assert output_name(Path("a/b.TIF")) == "b.TIF"
    assert output_name(Path("a/b.png")) == "b.png"


def test_written_files_get_the_usual_permissions(tmp_path: Path):
    import stat

    umask = os.umask(0o022)
    try:
        write_image(tmp_path / "p.png", torch.rand(3, 4, 4))
    finally:
        os.umask(umask)
    assert stat.S_IMODE((tmp_path / "p.png").stat().st_mode) == 0o644


# -- what real collections hold --------------------------------------------------------------------

RAMP = np.linspace(0, 255, 5 * 7, dtype=np.float64).reshape(5, 7)


def test_cmyk_tiff_becomes_rgb(tmp_path: Path):
    c, m, y, k = 0.2, 0.5, 0.9, 0.25
    inks = np.empty((5, 7, 4), np.uint8)
    inks[...] = np.round(np.array([c, m, y, k]) * 255)
    tifffile.imwrite(tmp_path / "press.tif", inks, photometric="separated")
    rgb, depth = read_image(tmp_path / "press.tif")
    expected = torch.tensor([(1 - c) * (1 - k), (1 - m) * (1 - k), (1 - y) * (1 - k)])
    assert depth == 8
    torch.testing.assert_close(rgb[:, 2, 3], expected, atol=2 / 255, rtol=0)


def test_cmyk_jpeg_becomes_rgb(tmp_path: Path):
    Image.new("CMYK", (7, 5), (0, 255, 255, 0)).save(tmp_path / "press.jpg", quality=100)  # pure red ink
    rgb, _ = read_image(tmp_path / "press.jpg")
    assert rgb.shape == (3, 5, 7)
    assert rgb[0].mean() > 0.9 and rgb[1:].mean() < 0.1


def test_palette_images_become_rgb(tmp_path: Path):
    index = (RAMP % 4).astype(np.uint8)
    colours = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255]], np.uint16)
    colormap = np.pad(colours.T * 257, ((0, 0), (0, 252)))  # (3, 256) uint16
    tifffile.imwrite(tmp_path / "pal.tif", index, photometric="palette", colormap=colormap)
    im = Image.fromarray(index, "P")
    im.putpalette(colours.astype(np.uint8).ravel().tolist())
    im.save(tmp_path / "pal.png")
    for name in ("pal.tif", "pal.png"):
        rgb, _ = read_image(tmp_path / name)
        expected = torch.from_numpy(colours[index].astype(np.float32) / 255).permute(2, 0, 1)
        torch.testing.assert_close(rgb, expected, atol=1e-6, rtol=0, msg=name)


def test_white_is_zero_tiff_is_inverted(tmp_path: Path):
    tifffile.imwrite(tmp_path / "neg.tif", RAMP.astype(np.uint8), photometric="miniswhite")
    rgb, _ = read_image(tmp_path / "neg.tif")
    torch.testing.assert_close(rgb[1], torch.from_numpy((255 - RAMP.astype(np.uint8)) / 255.0).float())


@pytest.mark.parametrize("name", ["a.png", "a.tif"])
@pytest.mark.parametrize("depth", [8, 16])
def test_alpha_is_kept_when_asked(tmp_path: Path, name, depth):
    rgba = torch.rand(4, 6, 9)
    write_image(tmp_path / name, rgba, bit_depth=depth)
    kept, read_depth = read_image(tmp_path / name, alpha=True)
    assert read_depth == depth and kept.shape == (4, 6, 9)
    torch.testing.assert_close(kept, rgba, atol=1 / (2**depth - 1), rtol=0)
    assert read_image(tmp_path / name)[0].shape == (3, 6, 9)  # dropped by default
    opaque = torch.rand(3, 6, 9)
    write_image(tmp_path / "rgb.png", opaque)
    assert read_image(tmp_path / "rgb.png", alpha=True)[0].shape == (3, 6, 9)  # no alpha: none made up


def test_gray_16bit_png_with_alpha(tmp_path: Path):
    array = np.stack([RAMP * 257, np.full_like(RAMP, 40000)], axis=-1).astype(np.uint16)
    # 16-bit gray+alpha PNG (colour type 4), written by hand as Pillow cannot
    raw = b"".join(b"\x00" + row.astype(">u2").tobytes() for row in array)
    chunk = lambda k, d: struct.pack(">I", len(d)) + k + d + struct.pack(">I", zlib.crc32(k + d))  # noqa: E731
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 7, 5, 16, 4, 0, 0, 0))
    (tmp_path / "ga.png").write_bytes(png + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
    rgba, depth = read_image(tmp_path / "ga.png", alpha=True)
    assert depth == 16 and rgba.shape == (4, 5, 7)
    torch.testing.assert_close(rgba[0], torch.from_numpy(RAMP * 257 / 65535).float())
    assert torch.equal(rgba[0], rgba[2]) and torch.allclose(rgba[3], torch.tensor(40000 / 65535))


def test_zero_byte_file_is_one_line(tmp_path: Path):
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(LumastyleError, match=r"empty\.jpg: the file is empty \(0 bytes\)"):
        read_image(tmp_path / "empty.jpg")


def test_nan_in_a_float_tiff_is_refused(tmp_path: Path):
    array = np.full((4, 4, 3), 0.5, np.float32)
    array[1, 2, 0] = np.nan
    tifffile.imwrite(tmp_path / "hdr.tif", array, photometric="rgb")
    with pytest.raises(LumastyleError, match=r"hdr\.tif: the image holds NaN or infinite values"):
        read_image(tmp_path / "hdr.tif")


@pytest.mark.parametrize("name", ["bomb.png", "bomb.jpg", "bomb.tif"])
def test_decompression_bomb_is_refused_and_the_limit_can_be_raised(tmp_path: Path, name, monkeypatch, tally):
    """A photo above the pixel limit is one line naming the option; raising the limit reads it. The
    limit is an argument (or LUMASTYLE_MAX_PIXELS): reading changes neither the environment nor
    Pillow's own limit for the rest of the process."""
    from PIL import Image

    write_image(tmp_path / name, torch.full((3, 100, 120), 0.5))
    monkeypatch.delenv("LUMASTYLE_MAX_PIXELS", raising=False)
    pillow_limit = Image.MAX_IMAGE_PIXELS
    for read in (read_image, read_size):
        with pytest.raises(
            LumastyleError, match=r"120x100 is 0\.012 MP, above the 0\.01 MP limit .* --max_pixels N"
        ) as info:
            read(tmp_path / name, max_pixels=10_000)
        assert str(tmp_path / name) in str(info.value)
    assert read_image(tmp_path / name, max_pixels=12_000)[0].shape == (3, 100, 120)
    assert "LUMASTYLE_MAX_PIXELS" not in os.environ and pillow_limit == Image.MAX_IMAGE_PIXELS
    assert max_pixels() == 200_000_000
    monkeypatch.setenv("LUMASTYLE_MAX_PIXELS", "10000")
    with pytest.raises(LumastyleError, match=r"above the 0\.01 MP limit"):
        read_size(tmp_path / name)
    tally("decompression bombs refused")


def test_corrupt_16bit_png_is_one_line_not_a_crash(tmp_path: Path):
    """torchvision's libpng decoder crashes the process on a bad zlib checksum; it never sees one."""
    write_image(tmp_path / "deep.png", torch.rand(3, 9, 11), bit_depth=16)
    data = bytearray((tmp_path / "deep.png").read_bytes())
    idat = data.index(b"IDAT")
    data[idat + 30] ^= 0xFF  # inside the compressed rows; fix the chunk's CRC so only zlib can tell
    length = int.from_bytes(data[idat - 4 : idat], "big")
    data[idat + 4 + length : idat + 8 + length] = zlib.crc32(bytes(data[idat : idat + 4 + length])).to_bytes(
        4, "big"
    )
    (tmp_path / "deep.png").write_bytes(bytes(data))
    with pytest.raises(LumastyleError, match=r"deep\.png: cannot read this image"):
        read_image(tmp_path / "deep.png")


@pytest.mark.parametrize(("name", "depth"), [("a.png", 8), ("a.png", 16), ("a.tif", 8), ("a.tif", 16), ("a.jpg", 8)])
def test_eight_bit_levels_write_as_the_same_levels_as_floats(tmp_path: Path, name, depth):
    """A uint8 image (stylize's 8-bit path) writes the pixels its float image / 255 writes, with alpha;
    16 bits widen each level exactly (x 257)."""
    torch.manual_seed(0)
    levels = torch.randint(0, 256, (4, 20, 30), dtype=torch.uint8)
    write_image(tmp_path / f"u{name}", levels, bit_depth=depth)
    write_image(tmp_path / f"f{name}", levels.float() / 255, bit_depth=depth)
    from_levels, depth_read = read_image(tmp_path / f"u{name}", alpha=True)
    assert depth_read == depth
    assert torch.equal(from_levels, read_image(tmp_path / f"f{name}", alpha=True)[0])
    if name != "a.jpg":  # lossless: the levels themselves
        assert torch.equal(from_levels, levels.float() / 255)
