"""`action apply`: a look rendered onto a photo or a folder, through the CLI too."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from lumastyle.actions import apply_action, load_action
from lumastyle.cli import main
from lumastyle.errors import LumastyleError
from lumastyle.io import read_image, write_image


def test_folder_to_folder(tmp_path: Path):
    write_image(tmp_path / "in" / "a.jpg", torch.rand(3, 10, 12))
    write_image(tmp_path / "in" / "b.tif", torch.rand(3, 8, 9), bit_depth=16)
    written = apply_action("cold", str(tmp_path / "in"), str(tmp_path / "out"))
    assert sorted(p.name for p in written) == ["a.png", "b.tif"]
    x, _ = read_image(tmp_path / "in" / "b.tif")
    y, depth = read_image(tmp_path / "out" / "b.tif")
    assert depth == 16 and torch.allclose(y, load_action("cold")(x), atol=1e-4)


def test_cli_file_to_file(tmp_path: Path, capsys):
    write_image(tmp_path / "a.png", torch.rand(3, 6, 6))
    (tmp_path / "look.yaml").write_text("- hue_saturation: {saturation: -1.0}\n")
    main(["action", "apply", str(tmp_path / "look.yaml"), str(tmp_path / "a.png"), str(tmp_path / "grey.png")])
    grey, _ = read_image(tmp_path / "grey.png")
    assert torch.allclose(grey[0], grey[1], atol=1 / 255) and "wrote 1 file" in capsys.readouterr().out


def test_refuses_to_overwrite_inputs(tmp_path: Path):
    write_image(tmp_path / "a.png", torch.rand(3, 6, 6))
    with pytest.raises(LumastyleError, match="is the input folder"):
        apply_action("spring", str(tmp_path), str(tmp_path))


def test_cli_error_is_one_line(tmp_path: Path, capsys):
    with pytest.raises(SystemExit) as info:
        main(["action", "apply", "nothing", str(tmp_path), str(tmp_path / "out")])
    assert info.value.code == 2
    assert capsys.readouterr().err.startswith("error: unknown action 'nothing'")
