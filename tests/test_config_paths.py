"""A path in a config file that climbs out through '..' is one line naming the file, key and value
(lumastyle.config_paths, checked by the CLI before jsonargparse reads the files); absolute paths in a
config and anything on the command line pass; every config lumastyle ships passes."""

from __future__ import annotations

from pathlib import Path

import pytest

from lumastyle.cli import main
from lumastyle.config_paths import check_config_file, climbs_out

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tmp").mkdir()
    return tmp_path


def _error(argv: list[str], capsys) -> str:
    with pytest.raises(SystemExit) as info:
        main(argv)
    err = capsys.readouterr().err.strip()
    assert info.value.code == 2 and "\n" not in err, err
    return err


def _printed_config(argv: list[str], capsys) -> str:
    with pytest.raises(SystemExit) as info:  # jsonargparse's --print_config exits 0 after printing
        main([*argv, "--print_config"])
    assert info.value.code in (0, None), capsys.readouterr().err
    return capsys.readouterr().out


@pytest.mark.parametrize(
    ("yaml", "key", "value", "option"),
    [
        ("data:\n  class_path: PairDataModule\n  init_args:\n    root: ../../x\n", "data.init_args.root", "../../x", " (--data.root)"),
        ("data:\n  class_path: LookDataModule\n  init_args:\n    action: a/../../looks/x.cube\n", "data.init_args.action", "a/../../looks/x.cube", " (--data.action)"),
        ("trainer:\n  default_root_dir: ..\\runs\n", "trainer.default_root_dir", "..\\runs", " (--trainer.default_root_dir)"),
        (
            "trainer:\n  logger:\n    - class_path: lumastyle.loggers.CSVLogger\n      init_args: {save_dir: ../logs}\n",
            "trainer.logger[0].init_args.save_dir", "../logs", "",
        ),
    ],
)  # fmt: skip
def test_a_config_path_climbing_out_is_one_line(workdir, capsys, tally, yaml, key, value, option):
    (workdir / "tmp" / "x.yaml").write_text(yaml)
    for given in (["--config", "tmp/x.yaml"], ["--config=tmp/x.yaml"]):
        err = _error(["fit", "--config", str(REPO / "styles" / "pairs.yaml"), *given], capsys)
        assert err == (
            f"error: tmp/x.yaml: {key} '{value}' reaches outside the current folder through '..' (a "
            "relative path in a config is read from the folder lumastyle runs in); write an absolute "
            f"path if you mean it, or give it on the command line{option}"
        )
    tally("config paths climbing out named in one line")


def test_absolute_paths_in_a_config_and_dots_on_the_command_line_pass(workdir, capsys):
    """As before the check: a config's absolute path, a '..' that stays inside and a command-line
    '..' reach the parsed config as written (relative paths are read from the current folder)."""
    (workdir / "tmp" / "x.yaml").write_text(
        f"data:\n  init_args:\n    root: {workdir / 'pairs'}\ntrainer:\n  default_root_dir: out/../runs_x\n"
    )
    style = ["fit", "--config", str(REPO / "styles" / "pairs.yaml"), "--config", "tmp/x.yaml"]
    printed = _printed_config(style, capsys)
    assert f"root: {workdir / 'pairs'}" in printed and "default_root_dir: out/../runs_x" in printed
    printed = _printed_config([*style, "--data.root", "../../x", "--trainer.default_root_dir", "../r"], capsys)
    assert "root: ../../x" in printed and "default_root_dir: ../r" in printed


def test_a_runs_own_config_records_command_line_dots_and_is_read_back(workdir, capsys):
    """A run's config.yaml (beside its checkpoints/) holds '--data.root ../x' as typed; given back as
    --config it is read, while the same file elsewhere is refused."""
    run = workdir / "runs" / "x" / "version_0"
    (run / "checkpoints").mkdir(parents=True)
    text = "data:\n  class_path: PairDataModule\n  init_args:\n    root: ../photos\n"
    (run / "config.yaml").write_text(text)
    (workdir / "tmp" / "config.yaml").write_text(text)
    printed = _printed_config(["fit", "--config", str(REPO / "styles" / "pairs.yaml"), "--config", str(run / "config.yaml")], capsys)
    assert "root: ../photos" in printed
    err = _error(["fit", "--config", str(REPO / "styles" / "pairs.yaml"), "--config", "tmp/config.yaml"], capsys)
    assert "tmp/config.yaml: data.init_args.root '../photos' reaches outside" in err


@pytest.mark.parametrize(
    ("value", "climbs"),
    [
        ("../x", True), ("..", True), ("a/../../x", True), ("..\\x", True), ("./../x", True),
        ("a/../b", False), ("a..b", False), ("...", False), ("/data/../x", False), ("C:\\x\\..\\..", False),
        ("~/../x", False), ("s3://bucket/../x", False), ("see ../x", False), ("${trainer.default_root_dir}/../x", False),
        ("spring", False), ("", False),
    ],
)  # fmt: skip
def test_climbs_out(value, climbs):
    assert climbs_out(value) is climbs


def _shipped() -> list[Path]:
    roots = ("styles", "configs", "examples", "lumastyle/styles", "lumastyle/defaults")
    return sorted(p for root in roots for p in (REPO / root).rglob("*.y*ml") if p.suffix in (".yaml", ".yml"))


def test_every_shipped_config_passes_and_still_parses(workdir, capsys):
    files = _shipped()
    assert len(files) >= 30 and any("plugin" in str(p) for p in files)
    for path in files:
        check_config_file(path)  # raises on a path that climbs out
    # through the CLI's own check and jsonargparse: every preset layered on a style, and a style by name
    presets = [arg for p in files if p.parent.is_relative_to(REPO / "configs") for arg in ("--config", str(p))]
    assert "class_path: lumastyle.data.PairDataModule" in _printed_config(
        ["fit", "--config", str(REPO / "styles" / "pairs.yaml"), *presets], capsys
    )
    assert "class_path: lumastyle.data.LookDataModule" in _printed_config(["fit", "--config", "spring"], capsys)
