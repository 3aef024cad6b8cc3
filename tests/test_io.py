"""Photo reading and writing: bit depths, formats, EXIF orientation, broken files, atomic writes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch
from PIL import Image

from lumastyle.errors import LumastyleError
from lumastyle.io import atomic_path, output_name, read_image, read_size, write_image


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
    import os
    import stat

    umask = os.umask(0o022)
    try:
        write_image(tmp_path / "p.png", torch.rand(3, 4, 4))
    finally:
        os.umask(umask)
    assert stat.S_IMODE((tmp_path / "p.png").stat().st_mode) == 0o644
