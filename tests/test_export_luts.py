"""``lumastyle export --format cube|3dl|hald|xmp``: each LUT read by a program that is not lumastyle (ffmpeg's
``lut3d``, OpenColorIO's FileTransform, ImageMagick's ``-hald-clut``) gives what lumastyle gives with
the same look on the same photo; a folder of reference photos gives one LUT each; the printed ΔE;
a Lightroom preset fitted to a model.

Each tool's test skips when it is missing (the Debian packages ffmpeg and imagemagick, the pip
package opencolorio); .ci/run installs them."""

from __future__ import annotations

import re
import shutil
import subprocess
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import COLOUR_ONLY, train

from lumastyle.actions import load_action
from lumastyle.actions.cube import identity_lut
from lumastyle.actions.hald import hald_level, identity_hald, write_hald
from lumastyle.actions.threedl import write_3dl
from lumastyle.actions.xmp import read_xmp
from lumastyle.cli import main
from lumastyle.color import lab_distance, rgb_to_lab
from lumastyle.errors import LumastyleError
from lumastyle.export import LUT_FORMATS, export
from lumastyle.inference import stylize_tensor
from lumastyle.io import read_image, write_image
from lumastyle.model import LumaStyle

H, W = 64, 96
#: a strong colour map on the quadratic basis [L², a², b², La, Lb, ab, L, a, b, 1] of normalised Lab:
#: a lightness curve that lifts the shadows and rolls off the highlights, more saturation, a hue
#: rotation and a warm cast that grows with lightness
STRONG_LOOK = torch.tensor(
    [
        [-0.25, 0, 0, 0, 0, 0, 0.9, 0, 0, 0.1],
        [0, 0, 0, 0, 0, 0, 0, 1.4, 0.3, 0.04],
        [0, 0, 0, 0, 0.2, 0, 0, -0.2, 1.3, 0.08],
    ]
)


def delta_e(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean ΔE76 between two sRGB images (3, H, W)."""
    return float(lab_distance(rgb_to_lab(a), rgb_to_lab(b)).mean())


def gradient_photo(path: Path) -> torch.Tensor:
    """A 64x96 photo of smooth gradients with saturated patches along its lower part, written as a
    16-bit PNG (ffmpeg widens 8-bit samples to 16 bits about as a shift does, v * 256, not v * 257,
    which moves them by up to about 1/256), and the pixels lumastyle reads from it."""
    ys = torch.linspace(0, 1, H).view(H, 1).expand(H, W)
    xs = torch.linspace(0, 1, W).view(1, W).expand(H, W)
    rgb = torch.stack([xs, 0.15 + 0.7 * ys, 1 - 0.8 * xs * ys])
    patches = [(1, 0, 0), (0, 1, 0), (0, 0, 1), (1, 1, 0), (0, 1, 1), (1, 0, 1), (1, 0.5, 0), (0.2, 0.1, 0.6)]
    for i, colour in enumerate(patches):
        rgb[:, 44:58, 2 + 12 * i : 12 + 12 * i] = torch.tensor(colour).view(3, 1, 1)
    write_image(path, rgb, bit_depth=16)
    return read_image(path)[0]


@pytest.fixture(scope="module")
def look_model(tmp_path_factory) -> Path:
    """A model without context whose colour map is :data:`STRONG_LOOK` (the head's output layer: its
    bias the map, its weights zero, as the closed-form start sets it)."""
    ckpt = train(tmp_path_factory.mktemp("look"), "look", *COLOUR_ONLY)
    state = torch.load(ckpt, weights_only=True)
    state["state_dict"]["network.head.out.weight"].zero_()
    state["state_dict"]["network.head.out.bias"].copy_(STRONG_LOOK.flatten())
    torch.save(state, ckpt)
    return ckpt


@pytest.fixture(scope="module")
def context_model(tmp_path_factory) -> Path:
    """A model with low-level colour context (no backbone), its context capped at 48 pixels."""
    return train(tmp_path_factory.mktemp("ctx"), "ctx", *COLOUR_ONLY, "--model.color_context.blur_radii",
                 "[4.0, 16.0]", "--model.context.long_side", "48")  # fmt: skip


@pytest.fixture(scope="module")
def luts(look_model: Path, tmp_path_factory) -> dict[str, Path]:
    """The look model exported in every LUT format at its default size, and the test photo."""
    work = tmp_path_factory.mktemp("luts")
    written = {"photo": work / "photo.png"}
    gradient_photo(written["photo"])
    for fmt, lut in LUT_FORMATS.items():
        (written[fmt],) = export(str(look_model), fmt, str(work / f"look{lut.suffix}"))
    return written


def tool(name: str, package: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed (Debian package {package})")
    return found


def imagemagick_convert() -> str:
    """A ``convert`` on PATH that is ImageMagick's (another program of that name, as on machines whose
    ``convert`` is something else, skips the test as a missing ImageMagick does)."""
    found = tool("convert", "imagemagick")
    version = subprocess.run([found, "-version"], capture_output=True, timeout=60)
    if b"ImageMagick" not in version.stdout:
        pytest.skip(f"{found} is not ImageMagick's convert (Debian package imagemagick)")
    return found


def run(command: list[str]) -> bytes:
    done = subprocess.run(command, capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
    return done.stdout


def from_16_bit(samples: bytes, endian: str) -> torch.Tensor:
    array = np.frombuffer(samples, f"{endian}u2").reshape(H, W, 3).astype(np.float32) / 65535
    return torch.from_numpy(array).permute(2, 0, 1)


def through_ffmpeg(lut: Path, photo: Path) -> torch.Tensor:
    """ffmpeg's lut3d filter (tetrahedral) on the photo at 16 bits a sample, the output as rgb48le."""
    ffmpeg = tool("ffmpeg", "ffmpeg")
    graph = f"format=rgb48le,lut3d=file={lut}"  # rgb48 throughout: lut3d's 8-bit path rounds to 8 bits
    out = run(
        [ffmpeg, "-v", "error", "-i", str(photo), "-vf", graph, "-f", "rawvideo", "-pix_fmt", "rgb48le", "-"]
    )
    return from_16_bit(out, "<")


def through_opencolorio(lut: Path, rgb: torch.Tensor) -> torch.Tensor:
    """OpenColorIO's FileTransform (its own .cube and .3dl readers), on float32 pixels."""
    ocio = pytest.importorskip(
        "PyOpenColorIO", reason="opencolorio is not installed (pip package opencolorio)"
    )
    ocio.ClearAllCaches()  # it keeps a file it has read by its path
    transform = ocio.FileTransform(src=str(lut), interpolation=ocio.INTERP_LINEAR)
    processor = ocio.Config.CreateRaw().getProcessor(transform).getDefaultCPUProcessor()
    pixels = np.ascontiguousarray(rgb.permute(1, 2, 0).numpy(), dtype=np.float32)
    processor.applyRGB(pixels)
    return torch.from_numpy(pixels).permute(2, 0, 1)


def through_imagemagick(hald: Path, photo: Path) -> torch.Tensor:
    """ImageMagick's -hald-clut (the Q16 build), the output read back at 16 bits a sample."""
    magick = shutil.which("convert-im6.q16") or shutil.which("magick") or imagemagick_convert()
    out = run([magick, str(photo), str(hald), "-hald-clut", "-depth", "16", "-endian", "LSB", "rgb:-"])
    return from_16_bit(out, "<")


@pytest.mark.parametrize(
    "fmt, reader",
    [
        ("cube", "ffmpeg"),
        ("cube", "opencolorio"),
        ("3dl", "ffmpeg"),
        ("3dl", "opencolorio"),
        ("hald", "imagemagick"),
    ],
)
def test_other_tools_read_each_lut_as_lumastyle_does(luts: dict[str, Path], look_model: Path, fmt, reader):
    """The tool's output is within 0.5 mean ΔE76 of lumastyle applying the same LUT file (the file means
    the same to both) and of the model's own ``stylize`` output (the look survives the LUT), on a
    photo the look changes by far more than that."""
    photo_path, lut = luts["photo"], luts[fmt]
    rgb = read_image(photo_path)[0]
    if reader == "ffmpeg":
        theirs = through_ffmpeg(lut, photo_path)
    elif reader == "opencolorio":
        theirs = through_opencolorio(lut, rgb)
    else:
        theirs = through_imagemagick(lut, photo_path)
    ours = load_action(str(lut))(rgb)
    model = LumaStyle.from_checkpoint(look_model).stylize(rgb)
    assert delta_e(model, rgb) > 10  # a strong look
    assert delta_e(theirs, ours) <= 0.5, (fmt, reader, delta_e(theirs, ours))
    assert delta_e(theirs, model) <= 0.5, (fmt, reader, delta_e(theirs, model))


def printed_distances(out: str) -> dict[str, float]:
    """``LUT path -> mean ΔE76`` from the lines export prints."""
    return {m[1]: float(m[2]) for m in re.finditer(r"^(\S+): mean ΔE76 ([\d.]+) from the model", out, re.M)}


def test_a_model_without_context_prints_its_luts_distance_on_random_colours(look_model, tmp_path, capsys):
    for fmt, name in (("3dl", "look.3dl"), ("hald", "look.png")):
        main(["export", str(look_model), "--format", fmt, "--output", str(tmp_path / name)])
    out = capsys.readouterr().out
    distances = printed_distances(out)
    assert set(distances) == {str(tmp_path / "look.3dl"), str(tmp_path / "look.png")}
    assert "on 4096 random colours (seed 0) (17 points per axis)" in out  # .3dl: 17 points
    assert "on 4096 random colours (seed 0) (64 points per axis)" in out  # Hald: level 8 by default
    assert all(0 < d <= 0.5 for d in distances.values()), distances


def test_a_folder_of_reference_photos_gives_one_lut_each(context_model: Path, tmp_path: Path, capsys):
    """One LUT per readable photo, named after it, in a folder beside the checkpoint; a line with its
    mean ΔE76 from the model on that photo (what this test computes from the written file), a summary
    line, and one line for the photo that cannot be read."""
    ckpt = tmp_path / "run" / "last.ckpt"
    ckpt.parent.mkdir()
    shutil.copy(context_model, ckpt)
    photos = tmp_path / "photos"
    gradient_photo(photos / "gradients.png")
    write_image(photos / "flipped.jpg", read_image(photos / "gradients.png")[0].flip(-1) * 0.8)
    (photos / "broken.jpg").write_bytes(b"not a jpeg")
    main(["export", str(ckpt), "--format", "cube", "--size", "17", "--reference", str(photos)])
    captured = capsys.readouterr()
    folder = tmp_path / "run" / "last-cube"
    assert sorted(p.name for p in folder.iterdir()) == ["flipped.cube", "gradients.cube"]
    distances = printed_distances(captured.out)
    assert set(distances) == {str(folder / "flipped.cube"), str(folder / "gradients.cube")}
    model = LumaStyle.from_checkpoint(ckpt)
    for stem, suffix in (("gradients", ".png"), ("flipped", ".jpg")):
        rgb = read_image(photos / f"{stem}{suffix}")[0]
        measured = delta_e(load_action(str(folder / f"{stem}.cube"))(rgb), model.stylize(rgb))
        assert distances[str(folder / f"{stem}.cube")] == pytest.approx(measured, abs=0.006)
    assert re.search(
        rf"^2 LUT\(s\) in {re.escape(str(folder))}: mean ΔE76 [\d.]+ from the model on their photos \(worst "
        r"[\d.]+, \w+\.\w+\); 1 photo\(s\) could not be read$",
        captured.out,
        re.M,
    )
    skipped = [line for line in captured.err.splitlines() if "broken.jpg" in line]
    assert len(skipped) == 1 and skipped[0].startswith(f"skipped {photos / 'broken.jpg'}: ")


@pytest.mark.parametrize("fmt", list(LUT_FORMATS))
def test_a_context_model_needs_a_reference_for_every_lut_format(context_model: Path, tmp_path: Path, fmt):
    with pytest.raises(
        LumastyleError, match=r"depend on each pixel's surroundings.*--reference PHOTO"
    ) as err:
        export(str(context_model), fmt, str(tmp_path / f"look{LUT_FORMATS[fmt].suffix}"))
    assert "\n" not in str(err.value) and not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    "fmt, size, message",
    [
        ("tiff", None, r"--format 'tiff': choose one of onnx, pt2, cube, 3dl, hald"),
        ("cube", 300, r"--size 300 is outside 2\.\.256"),
        ("3dl", 33, r"--size 33: a \.3dl is written with 17 points per axis, the one size ffmpeg reads"),
        ("hald", 1, r"--size 1 is outside 2\.\.256"),
    ],
)
def test_a_wrong_format_or_size_is_one_line(tmp_path: Path, fmt, size, message):
    """Refused before the checkpoint is read (it does not exist here), nothing written."""
    with pytest.raises(LumastyleError, match=message) as err:
        export(str(tmp_path / "missing.ckpt"), fmt, str(tmp_path / "look.out"), size=size)
    assert "\n" not in str(err.value) and not any(tmp_path.iterdir())


def test_the_cli_names_a_wrong_format_in_one_line(tmp_path: Path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["export", str(tmp_path / "missing.ckpt"), "--format", "tiff"])
    err = capsys.readouterr().err.strip()
    assert exit_.value.code == 2 and "\n" not in err and "'hald'" in err and "tiff" in err


def test_a_hald_level_follows_the_size_and_holds_the_table():
    """The smallest level L with L * L >= size; a table baked at L * L points is written as that level's
    image (the identity table gives the identity Hald), 16 bits a sample."""
    assert [hald_level(n) for n in (2, 4, 5, 17, 33, 36, 37, 64, 256)] == [2, 2, 3, 5, 6, 6, 7, 8, 16]
    with pytest.raises(LumastyleError, match="more than a Hald CLUT holds"):
        hald_level(257)


def test_write_hald_and_a_headerless_3dl(tmp_path: Path):
    path = write_hald(tmp_path / "identity.png", identity_lut(36))
    rgb, depth = read_image(path)
    assert depth == 16 and (rgb - identity_hald(6)).abs().max() < 1e-5
    with pytest.raises(ValueError, match="N = L \\* L"):
        write_hald(tmp_path / "odd.png", identity_lut(33))
    # a table this dark would read as 10-bit codes without the Mesh line (as OpenColorIO reads it)
    with pytest.raises(ValueError, match="reads as 10-bit codes without a Mesh line"):
        write_3dl(tmp_path / "dark.3dl", identity_lut(17) * 0.25, mesh=False)
    headerless = write_3dl(tmp_path / "plain.3dl", identity_lut(17), mesh=False).read_text()
    assert "Mesh" not in headerless and headerless.splitlines()[1].split()[-1] == "1023"


# -- a Lightroom preset ----------------------------------------------------------------------------


@pytest.fixture
def quick_fit(monkeypatch):
    """export_preset's fit with fewer steps and pixels (the fit itself is tested in
    tests/actions/test_preset_fit.py)."""
    from lumastyle.actions import preset_fit

    monkeypatch.setattr(preset_fit, "fit_preset", partial(preset_fit.fit_preset, steps=120, samples=6000))


def test_a_colour_only_model_exported_as_a_lightroom_preset(
    look_model: Path, tmp_path: Path, capsys, quick_fit
):
    """The preset is fitted on the colour lattice; the printed ΔE76 is the written file's, and on a
    photo the preset takes most of the way from the untouched photo to the model."""
    path = tmp_path / "look.xmp"
    main(["export", str(look_model), "--format", "xmp", "--output", str(path)])
    out = capsys.readouterr().out
    printed = float(re.search(r"mean ΔE76 ([\d.]+) from the model on a 33-point lattice", out).group(1))
    network = LumaStyle.from_checkpoint(str(look_model)).network
    lattice = identity_lut(33).reshape(33 * 33, 33, 3).permute(2, 0, 1)
    preset = load_action(str(path))
    with torch.no_grad():
        assert abs(delta_e(preset(lattice), stylize_tensor(network, lattice, None)) - printed) < 0.01
        photo = gradient_photo(tmp_path / "photo.png")
        model = stylize_tensor(network, photo, None)
        # STRONG_LOOK rotates hues and clips saturated colours, more than a preset's sliders hold: the
        # preset removes most (measured: 70 %) of the distance, not all of it
        assert delta_e(preset(photo), model) < 0.4 * delta_e(photo, model)


def test_a_context_model_is_fitted_on_its_reference_photos(
    context_model: Path, tmp_path: Path, capsys, quick_fit
):
    with pytest.raises(LumastyleError, match="--reference"):
        export(str(context_model), "xmp", str(tmp_path / "look.xmp"))
    photos = tmp_path / "photos"
    for i in range(2):
        write_image(photos / f"p{i}.png", torch.rand(3, 40, 56, generator=torch.Generator().manual_seed(i)))
    (photos / "broken.jpg").write_bytes(b"not a photo")
    (path,) = export(str(context_model), "xmp", str(tmp_path / "look.xmp"), reference=str(photos))
    captured = capsys.readouterr()
    assert "broken.jpg" in captured.err
    assert re.search(
        r"look\.xmp: a (colour|black-and-white) preset, mean ΔE76 [\d.]+ from the model on 3 reference",
        captured.out,
    )
    assert read_xmp(path).steps  # a preset lumastyle reads, with settings
    with pytest.raises(LumastyleError, match=r"--output .*\.xmp"):
        export(str(context_model), "xmp", str(tmp_path / "look.cube"), reference=str(photos))
