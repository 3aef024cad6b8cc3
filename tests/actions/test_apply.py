"""`action apply`: a look rendered onto a photo or a folder, through the CLI too."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from lumastyle.actions import apply_action, load_action
from lumastyle.cli import main
from lumastyle.errors import LumastyleError
from lumastyle.io import read_image, write_image


def photo(h: int = 6, w: int = 7, seed: int = 0) -> torch.Tensor:
    return torch.rand(3, h, w, generator=torch.Generator().manual_seed(seed))


def test_folder_to_folder(tmp_path: Path):
    write_image(tmp_path / "in" / "a.jpg", photo(10, 12))
    write_image(tmp_path / "in" / "b.tif", photo(8, 9, seed=1), bit_depth=16)
    (tmp_path / "in" / "notes.txt").write_text("not a photo")
    written = apply_action("cold", str(tmp_path / "in"), str(tmp_path / "out"))
    assert sorted(p.name for p in written) == ["a.png", "b.tif"]  # lossy inputs become PNG
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png", "b.tif"]
    x, _ = read_image(tmp_path / "in" / "b.tif")
    y, depth = read_image(tmp_path / "out" / "b.tif")
    assert depth == 16 and torch.allclose(y, load_action("cold")(x), atol=1e-4)


def test_file_to_file_and_to_folder(tmp_path: Path):
    write_image(tmp_path / "a.jpg", photo())
    (tmp_path / "look.yaml").write_text("- hue_saturation: {saturation: -1.0}\n")
    [out] = apply_action(str(tmp_path / "look.yaml"), str(tmp_path / "a.jpg"), str(tmp_path / "grey.png"))
    grey, depth = read_image(out)
    assert out == tmp_path / "grey.png" and depth == 8
    assert torch.allclose(grey[0], grey[1], atol=1 / 255) and torch.allclose(grey[1], grey[2], atol=1 / 255)
    [out] = apply_action("spring", str(tmp_path / "a.jpg"), str(tmp_path / "previews"))
    assert out == tmp_path / "previews" / "a.png"


def test_cli_file_to_file(tmp_path: Path, capsys):
    write_image(tmp_path / "a.png", photo())
    (tmp_path / "look.yaml").write_text("- hue_saturation: {saturation: -1.0}\n")
    main(
        ["action", "apply", str(tmp_path / "look.yaml"), str(tmp_path / "a.png"), str(tmp_path / "grey.png")]
    )
    grey, _ = read_image(tmp_path / "grey.png")
    assert torch.allclose(grey[0], grey[1], atol=1 / 255) and capsys.readouterr().out == f"wrote {tmp_path / 'grey.png'}\n"


@pytest.mark.parametrize(
    ("make", "source", "target", "message"),
    [
        ("folder", "", "", "is the input folder"),
        ("file", "a.png", "a.png", "is the input photo"),
        ("file", "a.png", "", "is the input photo"),
        ("folder", "", "out.png", "must be a folder too"),
        ("file", "a.png", "out.gif", "cannot write '.gif' files"),
        ("file", "notes.txt", "out", "not a PNG, JPEG or TIFF photo"),
        ("none", "missing", "out", "does not exist"),
        ("empty", "empty", "out", "no PNG, JPEG or TIFF photos"),
    ],
)
def test_refusals(tmp_path: Path, make, source, target, message):
    write_image(tmp_path / "a.png", photo())
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "empty").mkdir()
    with pytest.raises(LumastyleError, match=message) as info:
        apply_action("spring", str(tmp_path / source), str(tmp_path / target))
    assert "\n" not in str(info.value)
    assert (tmp_path / "a.png").is_file() and not (tmp_path / "out").exists()


def test_cli_error_is_one_line(tmp_path: Path, capsys):
    with pytest.raises(SystemExit) as info:
        main(["action", "apply", "nothing", str(tmp_path), str(tmp_path / "out")])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: unknown action 'nothing'") and err.count("\n") == 1


def test_cli_warning_is_one_line(tmp_path: Path):
    write_image(tmp_path / "a.png", torch.rand(3, 6, 6))
    (tmp_path / "p.xmp").write_text(
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description xmlns:crs="http://ns.adobe.com/camera-raw-settings/1.0/" crs:Exposure2012="+0.3"'
        ' crs:Sharpness="+10"/></rdf:RDF></x:xmpmeta>'
    )
    import subprocess
    import sys

    argv = ["action", "apply", str(tmp_path / "p.xmp"), str(tmp_path / "a.png"), str(tmp_path / "out.png")]
    done = subprocess.run(
        [sys.executable, "-m", "lumastyle.cli", *argv], capture_output=True, text=True, check=True
    )
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("warning: ") and "Sharpness" in done.stderr
