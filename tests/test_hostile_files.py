"""Hostile files: random and mutated bytes fed to every look reader and every photo loader (hypothesis).

Each file either loads (a look then renders a finite image in [0, 1]) or raises lumastyle's own
error in one line naming the file; no other exception, no crash, no hang. Plus the largest files.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import REPO, smooth_photo
from decoder_samples import dng_bytes, write_heic
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lumastyle import decoders
from lumastyle.actions import look_formats
from lumastyle.actions.action import MAX_LOOK_FILE_BYTES, Action
from lumastyle.errors import LumastyleError
from lumastyle.io import IMAGE_SUFFIXES, read_image, read_size, write_image

LOOKS = REPO / "examples" / "looks"
RECIPE = b"- curves: {master: [[0, 0], [0.5, 0.6], [1, 1]]}\n- hue_saturation: {master: {saturation: 20}}\n"
#: examples per reader and kind of input: the suite's budget; LUMASTYLE_FUZZ_EXAMPLES=5000 searches deeper,
#: with a new random draw each run (the suite's draw is fixed, so CI is repeatable)
EXAMPLES = int(os.environ.get("LUMASTYLE_FUZZ_EXAMPLES", "150"))
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize="LUMASTYLE_FUZZ_EXAMPLES" not in os.environ,
    suppress_health_check=list(HealthCheck),
    database=None,
)


def _photo_seeds() -> dict[str, bytes]:
    with tempfile.TemporaryDirectory(prefix="lumastyle-seeds-") as name:
        folder, seeds = Path(name), {}
        for file, depth in (
            ("png8.png", 8),
            ("png16.png", 16),
            ("jpeg.jpg", 8),
            ("tif8.tif", 8),
            ("tif16.tif", 16),
        ):
            write_image(folder / file, smooth_photo(9, 13, seed=1), bit_depth=depth)
            seeds[file] = (folder / file).read_bytes()
        rgb = np.round(smooth_photo(9, 13, seed=1).permute(1, 2, 0).numpy() * 255).astype(np.uint8)
        seeds["heic.heic"] = write_heic(folder / "heic.heic", rgb, lossless=False).read_bytes()
    # the smallest mosaic LibRaw takes (it refuses sides under 22 pixels)
    seeds["dng.dng"] = dng_bytes(np.tile(np.linspace(0.1, 0.6, 24), (24, 1))[..., None].repeat(3, axis=2))
    return seeds


PHOTOS = _photo_seeds()
LOOK_SEEDS = {p.name: p.read_bytes() for p in sorted(LOOKS.iterdir()) if p.suffix != ".py"}
LOOK_SEEDS["recipe.yaml"] = RECIPE
FUZZ_DIR = Path(tempfile.gettempdir())  # set per module run by _fuzz_folder


#: lumastyle's own look formats; every registered one (these and any a plugin adds) is fuzzed
BUILTIN_LOOK_FORMATS = {".3dl", ".acv", ".cube", ".png", ".tif", ".tiff", ".xmp", ".yaml", ".yml"}
#: the suffixes test_random_bytes fuzzes: photos, and every look format the registry holds (asked when
#: this file is collected; importing lumastyle.actions registers every built-in, so run alone or not)
RANDOM_SUFFIXES = sorted({".png", ".jpg", ".tif", ".heic", ".dng", *look_formats()})
#: the photo suffixes among them
PHOTO_SUFFIXES = (".png", ".jpg", ".tif", ".heic", ".dng")


def test_every_look_format_has_a_seed():
    """A look format added to the registry must be fuzzed too: give it an example in examples/looks."""
    assert {Path(name).suffix for name in LOOK_SEEDS} >= set(look_formats()) - {".yml", ".tif", ".tiff"}


def test_every_built_in_look_format_is_fuzzed():
    """Fails if a built-in format is missing from the registry when this file is collected (run alone,
    the fuzz once covered only the formats its own imports happened to register)."""
    assert set(RANDOM_SUFFIXES) >= BUILTIN_LOOK_FORMATS


@st.composite
def mutated(draw, seed: bytes) -> bytes:
    """``seed`` truncated, with bytes overwritten, inserted or cut, or replaced by random bytes."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["truncate", "overwrite", "insert", "cut", "random"]))
        at = draw(st.integers(0, len(data)))
        if kind == "truncate":
            data = data[:at]
        elif kind == "overwrite" and data:
            for _ in range(draw(st.integers(1, 16))):
                data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=64))
        elif kind == "cut":
            del data[at : at + draw(st.integers(1, 256))]
        else:
            data = bytearray(draw(st.binary(max_size=512)))
    return bytes(data)


@pytest.fixture(scope="module", autouse=True)
def _fuzz_folder(tmp_path_factory):
    global FUZZ_DIR
    FUZZ_DIR = tmp_path_factory.mktemp("fuzz")


def _write(data: bytes, name: str) -> Path:
    """The bytes as a file named ``name`` (the one file of that name, rewritten each example)."""
    path = FUZZ_DIR / name
    path.write_bytes(data)
    return path


def _look_behaves(path: Path) -> None:
    try:
        action = Action.from_spec(str(path))
    except LumastyleError as err:
        assert "\n" not in str(err) and str(path) in str(err)
        return
    out = action(torch.rand(3, 6, 6))
    assert out.shape == (3, 6, 6) and torch.isfinite(out).all() and out.min() >= 0 and out.max() <= 1


def _photo_behaves(path: Path) -> None:
    loads = [read_size, read_image]
    if path.suffix in decoders.SUFFIXES and path.suffix not in IMAGE_SUFFIXES:
        loads = [decoders.size, decoders.decode]  # the readers do not take them yet: fuzz the decoders
    for load in loads:
        try:
            result = load(path)
        except LumastyleError as err:
            assert "\n" not in str(err) and str(path) in str(err)
            continue
        if load is read_image:
            rgb, _ = result
            assert rgb.ndim == 3 and rgb.shape[0] == 3 and torch.isfinite(rgb).all()
        elif load is decoders.decode:
            assert result.array.ndim == 3 and result.array.shape[2] in (3, 4) and min(result.array.shape) > 0


@pytest.mark.parametrize("name", sorted(LOOK_SEEDS))
def test_mutated_look_files(name, tally):
    @SETTINGS
    @given(data=mutated(LOOK_SEEDS[name]))
    def check(data: bytes) -> None:
        _look_behaves(_write(data, name))

    check()
    tally(f"malformed look files ({Path(name).suffix})", EXAMPLES)


@pytest.mark.parametrize("name", sorted(PHOTOS))
def test_mutated_photos(name, tally):
    @SETTINGS
    @given(data=mutated(PHOTOS[name]))
    def check(data: bytes) -> None:
        _photo_behaves(_write(data, name))

    check()
    tally(f"malformed photos ({name.split('.')[0]})", EXAMPLES)


@pytest.mark.parametrize("suffix", RANDOM_SUFFIXES)
def test_random_bytes(suffix, tally):
    @SETTINGS
    @given(data=st.binary(max_size=2048))
    def check(data: bytes) -> None:
        path = _write(data, "random" + suffix)
        if suffix in PHOTO_SUFFIXES:
            _photo_behaves(path)
        _look_behaves(path)

    check()
    tally("files of random bytes", EXAMPLES)


@pytest.mark.parametrize("name", ["huge.cube", "huge.xmp", "huge.yaml", "huge.3dl", "huge.acv"])
def test_a_huge_look_file_is_refused_before_it_is_read(tmp_path, name, tally):
    path = tmp_path / name
    with path.open("wb") as f:  # sparse: takes no disk space
        f.truncate(MAX_LOOK_FILE_BYTES + 1)
    with pytest.raises(LumastyleError, match=r"MB is too large for a look file") as info:
        Action.from_spec(str(path))
    assert str(path) in str(info.value)
    tally("huge files refused")


def test_a_huge_photo_file_is_one_line(tmp_path):
    path = tmp_path / "huge.jpg"
    with path.open("wb") as f:
        f.truncate(1 << 30)
    with pytest.raises(LumastyleError, match=r"huge\.jpg: cannot read this image"):
        read_image(path)
