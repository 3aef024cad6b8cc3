"""A photo's metadata survives ``stylize`` and ``predict`` (issue 29): EXIF (camera, lens, date, GPS),
XMP (rating, keywords) and IPTC, read back by exiftool (Debian's libimage-exiftool-perl), with the
orientation reset once the pixels are upright and the Software tag naming lumastyle."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from lumastyle.callbacks import PredictionWriter
from lumastyle.cli import main
from lumastyle.io import read_image, read_photo, write_image
from lumastyle.metadata import Metadata

TAGS = [
    "-Make=Canon", "-Model=Canon EOS R5", "-LensModel=RF24-70mm F2.8 L IS USM",
    "-DateTimeOriginal=2024:05:01 18:30:00", "-GPSLatitude=48.8584", "-GPSLatitudeRef=N",
    "-GPSLongitude=2.2945", "-GPSLongitudeRef=E", "-XMP-xmp:Rating=4", "-XMP-dc:Subject=paris",
    "-XMP-dc:Subject=evening", "-IPTC:Keywords=eiffel", "-IPTC:By-line=Jane Doe", "-Orientation#=6",
]  # fmt: skip


def exiftool(*args: str) -> subprocess.CompletedProcess:
    if shutil.which("exiftool") is None:
        pytest.skip("exiftool missing: install Debian's libimage-exiftool-perl")
    return subprocess.run(["exiftool", *args], capture_output=True, text=True, check=True)


def tags(path: Path) -> dict:
    return json.loads(exiftool("-j", "-G1", "-a", "-n", str(path)).stdout)[0]


@pytest.fixture
def sideways(tmp_path) -> Path:
    """A 32x48 (height x width) photo with a bright top-left corner, stored turned (EXIF orientation 6:
    turn 90° clockwise to view) as a JPEG with EXIF, XMP and IPTC written by exiftool."""
    upright = np.full((32, 48, 3), 60, np.uint8)
    upright[:8, :8] = 240
    src = tmp_path / "in"
    src.mkdir()
    path = src / "photo.jpg"
    Image.fromarray(np.ascontiguousarray(np.rot90(upright, 1))).save(path, quality=95)
    exiftool("-q", "-overwrite_original", *TAGS, str(path))
    return path


def check(path: Path, iptc: bool) -> None:
    found = tags(path)
    assert found["IFD0:Make"] == "Canon" and found["IFD0:Model"] == "Canon EOS R5"
    assert found["ExifIFD:LensModel"] == "RF24-70mm F2.8 L IS USM"
    assert found["ExifIFD:DateTimeOriginal"] == "2024:05:01 18:30:00"
    assert found["GPS:GPSLatitude"] == pytest.approx(48.8584, abs=1e-4)
    assert found["GPS:GPSLongitude"] == pytest.approx(2.2945, abs=1e-4)
    assert found["XMP-xmp:Rating"] == 4 and found["XMP-dc:Subject"] == ["paris", "evening"]
    if iptc:
        assert found["IPTC:Keywords"] == "eiffel" and found["IPTC:By-line"] == "Jane Doe"
    assert found.get("IFD0:Orientation", 1) == 1
    assert str(found["IFD0:Software"]).startswith("lumastyle")
    image, _ = read_image(path)
    assert tuple(image.shape[1:]) == (32, 48)  # upright, and read so: orientation is not applied twice
    corners = [image[:, :8, :8], image[:, :8, -8:], image[:, -8:, :8], image[:, -8:, -8:]]
    assert int(torch.stack([c.mean() for c in corners]).argmax()) == 0  # the bright corner is top-left


@pytest.mark.parametrize(("format", "suffix", "iptc"), [("auto", ".jpg", True), ("png", ".png", False), ("tiff", ".tif", True)])
def test_metadata_survives_stylize(quick_checkpoint, sideways, tmp_path, format, suffix, iptc):
    """JPEG, PNG and TIFF outputs keep the camera, lens, date, location, rating and keywords (IPTC:
    JPEG and TIFF; PNG has no place for it), upright with orientation 1, Software lumastyle."""
    out = tmp_path / "out"
    main(["stylize", "--ckpt", str(quick_checkpoint), "--input", str(sideways.parent), "--output", str(out),
          "--format", format])  # fmt: skip
    check(out / f"photo{suffix}", iptc)


def test_predict_writes_the_metadata_and_the_profile(sideways, tmp_path):
    """predict's writer (the prediction is sRGB, upright): the input's metadata and profile go into the
    output, as stylize writes them."""
    adobe = Path("/usr/share/color/icc/colord/AdobeRGB1998.icc")
    if not adobe.is_file():
        pytest.skip(f"{adobe} missing: install Debian's colord-data")
    with Image.open(sideways) as im:  # the same photo, now also tagged Adobe RGB
        im.save(sideways, quality=95, exif=im.info["exif"], icc_profile=adobe.read_bytes())
    exiftool("-q", "-overwrite_original", "-XMP-xmp:Rating=4", "-XMP-dc:Subject=paris",
             "-XMP-dc:Subject=evening", "-IPTC:Keywords=eiffel", "-IPTC:By-line=Jane Doe", str(sideways))  # fmt: skip
    image, depth = read_image(sideways)
    writer = PredictionWriter(str(tmp_path / "predicted"))
    prediction = {"path": [str(sideways)], "bit_depth": [depth], "output": image[None]}
    writer.write_on_batch_end(None, None, prediction, None, None, 0)  # type: ignore[arg-type]
    out = tmp_path / "predicted" / "photo.jpg"
    check(out, iptc=True)
    with Image.open(out) as im:
        assert im.info["icc_profile"] == adobe.read_bytes()


def test_an_untagged_photo_gets_no_metadata(tmp_path):
    write_image(tmp_path / "plain.jpg", torch.rand(3, 8, 8))
    found = tags(tmp_path / "plain.jpg")
    assert not any(key.split(":")[0] in ("IFD0", "ExifIFD", "XMP-xmp", "IPTC", "ICC-header") for key in found)


def test_an_xmp_too_large_for_a_jpeg_is_left_out_with_one_line(tmp_path):
    """Lightroom's XMP with a long history can pass 64 KiB, more than one JPEG segment holds: the JPEG
    is written without it and a warning says so; a PNG keeps it."""
    big = b'<x:xmpmeta xmlns:x="adobe:ns:meta/">' + b" " * 70_000 + b"</x:xmpmeta>"
    image = torch.rand(3, 8, 8)
    with pytest.warns(UserWarning, match=r"^XMP \(70048 bytes\) is larger than one JPEG segment holds") as caught:
        write_image(tmp_path / "a.jpg", image, metadata=Metadata(xmp=big))
    assert len(caught) == 1 and "\n" not in str(caught[0].message)
    assert read_photo(tmp_path / "a.jpg").metadata.xmp is None
    write_image(tmp_path / "a.png", image, metadata=Metadata(xmp=big))
    assert read_photo(tmp_path / "a.png").metadata.xmp == big
