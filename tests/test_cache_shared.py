"""A context cache several runs share (issue 30): two processes building one empty cache at once compute
each entry once and read the maps one process alone makes; a cut, changed or other-format entry is
rebuilt with one warning and never read as maps; a full disk keeps the photo's maps in memory; the
least recently used entries go first under the size limit, never a running fit's; ``lumastyle cache
info|clear``."""

from __future__ import annotations

import errno
import os
import re
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
import torch

from lumastyle import cache as cache_module
from lumastyle.cache import ContextCache, evict, hold, in_use, parse_size, release, stored_entries
from lumastyle.cli import main
from lumastyle.data.pairs import PairDataModule
from lumastyle.errors import LumastyleError
from lumastyle.network import StyleNetwork

REPO = Path(__file__).resolve().parents[1]
NETWORK = {"backbone_width": 1 / 16, "freeze": "conv1-conv5", "top_channels": 8, "context_pad": 8}


def tiny_network() -> StyleNetwork:
    torch.manual_seed(0)
    return StyleNetwork(**NETWORK).eval()


def cache_for(network: StyleNetwork, folder: Path, limit: int | None = None) -> ContextCache:
    return ContextCache(folder, network.lower_fingerprint(), network.context.scales, limit)


def datamodule(root: Path) -> PairDataModule:
    dm = PairDataModule(
        root=str(root), long_side=48, crop_size=24, num_workers=0, val_fraction=0.2, test_fraction=0.0
    )
    dm.setup()
    return dm


def built_cache(pair_factory, tmp_path: Path) -> tuple[PairDataModule, list, StyleNetwork, Path]:
    """A cache of 3 tiny pairs built by this process: (the DataModule, its entries, the network, the folder)."""
    dm = datamodule(pair_factory(tmp_path / "pairs", n=3, size=(40, 56)))
    entries = dm.context_entries(48)
    net, folder = tiny_network(), tmp_path / "cache"
    cache_for(net, folder).build(entries, dm.context_image, net.lower_context)
    return dm, entries, net, folder


def maps_of(cache: ContextCache, entries) -> dict[str, list[torch.Tensor]]:
    return {cache.path(e).name: [f.clone() for f in cache.load(e)["features"]] for e in entries}


#: One of two processes building the same cache: waits for the go file, builds (each photo slowed down
#: so the two overlap), then saves how many entries it computed and the maps it reads.
RACER = """
import sys, time, warnings
from pathlib import Path
import torch
warnings.simplefilter("error")  # any warning fails the run
torch.set_num_threads(1)
from lumastyle.cache import ContextCache
from lumastyle.data.pairs import PairDataModule
from lumastyle.network import StyleNetwork
root, folder, out, go = (Path(a) for a in sys.argv[1:5])
torch.manual_seed(0)
net = StyleNetwork(**{network}).eval()
dm = PairDataModule(root=str(root), long_side=48, crop_size=24, num_workers=0, val_fraction=0.2, test_fraction=0.0)
dm.setup()
cache = ContextCache(folder, net.lower_fingerprint(), net.context.scales, None)
entries = dm.context_entries(48)
def slow(entry):
    time.sleep(0.1)
    return dm.context_image(entry)
out.with_suffix(".ready").touch()
while not go.exists():
    time.sleep(0.01)
made = cache.build(entries, slow, net.lower_context)
maps = {{cache.path(e).name: [f.clone() for f in cache.load(e)["features"]] for e in entries}}
torch.save({{"made": made, "maps": maps}}, out)
"""


def test_two_processes_build_one_empty_cache_together(pair_factory, tmp_path, tally):
    """Started together on one empty folder: each entry is computed once in all (the build lock shares
    the work), neither fails or warns, both read the maps a process alone computes, and nothing
    half-written is left."""
    root = pair_factory(tmp_path / "pairs", n=5, size=(40, 56))
    script = tmp_path / "racer.py"
    script.write_text(RACER.format(network=NETWORK))
    folder, go = tmp_path / "shared", tmp_path / "go"
    outs = [tmp_path / f"run{i}.pt" for i in range(2)]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [
        subprocess.Popen([sys.executable, str(script), str(root), str(folder), str(out), str(go)], env=env)
        for out in outs
    ]
    deadline = time.monotonic() + 120
    while not all(out.with_suffix(".ready").exists() for out in outs):
        assert time.monotonic() < deadline and all(p.poll() is None for p in procs)
        time.sleep(0.05)
    go.touch()
    assert [p.wait(timeout=120) for p in procs] == [0, 0]

    dm = datamodule(root)
    entries = dm.context_entries(48)
    net = tiny_network()
    alone = cache_for(net, tmp_path / "alone")
    assert alone.build(entries, dm.context_image, net.lower_context) == len(entries)
    reference = maps_of(alone, entries)
    results = [torch.load(out, weights_only=True) for out in outs]
    assert sum(r["made"] for r in results) == len(entries)  # each entry computed by one of them
    for result in results:
        assert result["maps"].keys() == reference.keys()
        for name, maps in reference.items():
            for got, want in zip(result["maps"][name], maps, strict=True):
                assert torch.allclose(got.float(), want.float(), rtol=1e-3, atol=1e-3), name
    assert sorted(p.name for p in folder.iterdir() if p.is_file()) == sorted(reference)  # no .part left
    assert in_use(folder) == (set(), 0)  # both lists went with their processes
    tally("runs building one empty context cache together", 2)


def entry_bytes_changed(path: Path, record: dict) -> None:
    """Flip 8 bytes inside the first map's data (found in the file by its bytes)."""
    data = bytearray(path.read_bytes())
    at = data.find(record["features"][0].contiguous().view(torch.uint8).numpy().tobytes())
    assert at > 0
    data[at + 4 : at + 12] = bytes(b ^ 0xFF for b in data[at + 4 : at + 12])
    path.write_bytes(bytes(data))


def entry_cut_short(path: Path, record: dict) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size * 2 // 3])


def entry_of_format_1(path: Path, record: dict) -> None:
    """What lumastyle wrote before entries held a format and a checksum."""
    old = {k: record[k] for k in ("features", "scaled_hw", "pad", "stride", "photo_hw")}
    torch.save({**old, "features": [f.clone() for f in old["features"]]}, path)


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (entry_cut_short, "cut short or unreadable"),
        (entry_bytes_changed, r"its bytes changed \(checksum mismatch\)"),
        (entry_of_format_1, r"written by another version of lumastyle \(format 1; this one reads 2\)"),
    ],
    ids=["cut-short", "bytes-changed", "format-1"],
)
def test_a_damaged_entry_is_rebuilt_with_one_warning(pair_factory, tmp_path, damage, reason, tally):
    """A damaged entry is never read as maps: a process that has not checked it refuses it in one line;
    the next build names it in one warning line, rebuilds it and reads what a fresh build makes."""
    dm, entries, net, folder = built_cache(pair_factory, tmp_path)
    reference = maps_of(cache_for(net, folder), entries)
    victim = entries[1]
    path = cache_for(net, folder).path(victim)
    damage(path, torch.load(path, weights_only=True))

    reader = cache_for(net, folder)  # a loader worker of another run: it did not build, so it checks
    with pytest.raises(LumastyleError, match=rf"^{path}: context cache entry for .*: {reason}.*; run again"):
        reader.load(victim)
    assert reader.load(entries[0])["features"][0].dtype == torch.float16  # the others are read

    cache = cache_for(net, folder)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert cache.build(entries, dm.context_image, net.lower_context) == 1
    # one line, which names the folder, the entry, why, and what happens
    assert len(caught) == 1 and "\n" not in str(caught[0].message)
    assert re.fullmatch(
        rf"context cache {re.escape(str(folder))}: entry {path.name}: {reason}.*; rebuilding it, its maps "
        "are not read",
        str(caught[0].message),
    )
    assert maps_of(cache, entries).keys() == reference.keys()
    for name, maps in maps_of(cache_for(net, folder), entries).items():
        assert all(torch.equal(a, b) for a, b in zip(maps, reference[name], strict=True)), name
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert cache_for(net, folder).build(entries, dm.context_image, net.lower_context) == 0
    tally("damaged context-cache entries rebuilt")


def test_a_full_disk_keeps_the_maps_in_memory(pair_factory, tmp_path, monkeypatch, tally):
    """ENOSPC while writing entries: one warning line naming the folder and what to do, nothing
    written (no temporary file either), and the training loader serves the crops and windows a cache
    on disk serves."""
    root = pair_factory(tmp_path / "pairs", n=4, size=(40, 56))
    dm = datamodule(root)
    entries = dm.context_entries(48)
    net = tiny_network()
    on_disk = cache_for(net, tmp_path / "roomy")
    on_disk.build(entries, dm.context_image, net.lower_context)

    write = os.write

    def disk_full(fd: int, data) -> int:
        """An entry's file fills the disk after its first 100 bytes (other writes go through)."""
        if not os.readlink(f"/proc/self/fd/{fd}").endswith(".part.pt"):
            return write(fd, data)
        if os.fstat(fd).st_size == 0:
            return write(fd, bytes(data[:100]))
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "write", disk_full)
    full = cache_for(net, tmp_path / "full")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert full.build(entries, dm.context_image, net.lower_context) == len(entries)
    monkeypatch.undo()
    assert [str(w.message) for w in caught] == [
        f"context cache {tmp_path / 'full'}: the disk is full; {len(entries)} photo(s) are not cached, their "
        "maps are kept in memory for this run; free space there, lower LUMASTYLE_CACHE_LIMIT, or set "
        "model.context.cache to another folder"
    ]
    assert not [p for p in (tmp_path / "full").iterdir() if p.is_file()]

    batches = []
    for cache in (on_disk, full):
        dm.attach_context_cache(cache, 48)
        torch.manual_seed(5)
        batches.append(next(iter(dm.train_dataloader())))
    for key in ("input", "target", "origin"):
        assert torch.equal(batches[0][key], batches[1][key])
    for a, b in zip(batches[0]["context"], batches[1]["context"], strict=True):
        assert all(torch.equal(a[k], b[k]) for k in a)
    tally("full disks while caching")


def test_least_recently_used_entries_go_first_never_a_running_fits(pair_factory, tmp_path):
    root = pair_factory(tmp_path / "pairs", n=5, size=(40, 56))
    dm = datamodule(root)
    entries = dm.context_entries(48)  # 3 training photos x 2 orientations + 1 validation photo
    net = tiny_network()
    folder = tmp_path / "cache"
    cache_for(net, folder).build(entries, dm.context_image, net.lower_context)
    release(folder)
    files = [cache_for(net, folder).path(e) for e in entries]
    for age, path in enumerate(files):  # files[0] used last, files[-1] first
        os.utime(path, (time.time() - 100 * age, time.time() - 100 * age))
    size = files[0].stat().st_size
    assert all(abs(p.stat().st_size - size) < size // 4 for p in files)

    # a run uses the two oldest (marked as used by its check) and adds nothing; the limit of 4 entries
    cache = cache_for(net, folder, limit=4 * size)
    assert cache.build(entries[-2:], dm.context_image, net.lower_context) == 0
    cache.trim({p.name for p in files[-2:]})
    kept = {s.path.name for s in stored_entries(folder)}
    assert kept == {p.name for p in files[-2:]} | {p.name for p in files[:2]}  # the used two, the newest two
    assert sum(s.size for s in stored_entries(folder)) <= 4 * size

    # entries listed by a running fit (here this process) are not evicted, even over the limit
    hold(folder, [files[0].name])
    assert in_use(folder) == ({files[0].name}, 1)
    with pytest.warns(UserWarning, match=r"in use by running fits, over its limit of 0 bytes; nothing more"):
        cache_for(net, folder, limit=0).trim(set())
    assert [s.path.name for s in stored_entries(folder)] == [files[0].name]
    release(folder)
    stale = folder / ".in-use" / "host-1-dead.names"  # a list no process holds: its fit ended
    stale.write_text(files[0].name)
    assert evict(folder, 0) == (1, 0) and not stale.exists()
    assert (
        parse_size("20G") == 20 * 2**30 and parse_size("1.5MiB") == 3 * 2**19 and parse_size("none") is None
    )


def test_cache_info_and_clear(pair_factory, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("LUMASTYLE_CACHE_LIMIT", "1G")
    *_, folder = built_cache(pair_factory, tmp_path)
    files = sorted(folder.glob("*.pt"))
    total = sum(p.stat().st_size for p in files)
    main(["cache", "info", "--folder", str(folder)])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"folder: {folder}"
    assert lines[1] == f"entries: {len(files)}, {total / 1024:.1f} KiB"
    assert lines[2] == "limit: 1.0 GiB (LUMASTYLE_CACHE_LIMIT)"
    assert lines[3].startswith("last used: oldest 20")
    assert lines[4] == f"in use: {len(files)} entries by 1 running fit(s)"  # this process built them

    keep = files[0].name
    hold(folder, [keep])  # a fit running now
    main(["cache", "clear", "--folder", str(folder)])
    out = capsys.readouterr().out.strip()
    left = files[0].stat().st_size
    assert out == (
        f"removed {len(files) - 1} entries ({(total - left) / 1024:.1f} KiB) from {folder}; "
        "kept 1 in use by 1 running fit(s): clear again after they end"
    )
    assert [p.name for p in folder.glob("*.pt")] == [keep]
    release(folder)
    monkeypatch.setenv("LUMASTYLE_CACHE", str(folder))  # the default folder
    main(["cache", "clear"])
    assert capsys.readouterr().out.strip() == f"removed 1 entries ({left / 1024:.1f} KiB) from {folder}"
    assert not list(folder.glob("*.pt"))
    assert cache_module.DEFAULT_LIMIT == 20 * 2**30


def test_a_lock_that_cannot_be_asked_for_counts_as_held(tmp_path, monkeypatch):
    """On NFS flock is emulated with POSIX locks, which refuse an exclusive lock on a file opened
    read-only (EBADF): such a list is taken as a running fit's (kept, its entries never evicted),
    not a traceback; a list nobody holds that cannot be removed (another user's) is left."""
    import errno
    import fcntl as real_fcntl

    from lumastyle import cache as cache_module

    lists = tmp_path / cache_module.IN_USE
    lists.mkdir()
    (lists / "other.names").write_text("a.pt b.pt\n")

    class NfsLikeLocks:
        LOCK_EX, LOCK_NB, LOCK_SH, LOCK_UN = (
            real_fcntl.LOCK_EX, real_fcntl.LOCK_NB, real_fcntl.LOCK_SH, real_fcntl.LOCK_UN
        )  # fmt: skip

        @staticmethod
        def flock(fd, operation):
            raise OSError(errno.EBADF, "Bad file descriptor")

    monkeypatch.setattr(cache_module, "fcntl", NfsLikeLocks)
    assert cache_module.in_use(tmp_path) == ({"a.pt", "b.pt"}, 1)
    assert (lists / "other.names").is_file()
