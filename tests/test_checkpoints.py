"""lumastyle.checkpoint_io.AtomicCheckpointIO: the checkpoint's bytes reach the disk (fsync) before the
rename makes them its name, so a power cut after the rename cannot leave an empty or partial file
under the checkpoint's name."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from lumastyle.checkpoint_io import AtomicCheckpointIO


def test_the_temporary_file_is_fsynced_before_the_rename(tmp_path: Path, monkeypatch, tally):
    """Every fsync and rename in order, each fsync by the path its descriptor has open
    (/proc/self/fd): the file renamed onto the checkpoint's name was fsynced, whole, before the
    rename, and it is the checkpoint."""
    events: list[tuple[str, ...]] = []
    fsync, replace, rename = os.fsync, os.replace, os.rename

    def recording_fsync(fd):
        fd = fd if isinstance(fd, int) else fd.fileno()
        opened = os.readlink(f"/proc/self/fd/{fd}")
        events.append(("fsync", opened, str(os.fstat(fd).st_size)))
        return fsync(fd)

    def recording(kind, move):
        def moved(src, dst, *args, **kwargs):
            events.append((kind, str(src), str(dst)))
            return move(src, dst, *args, **kwargs)

        return moved

    monkeypatch.setattr(os, "fsync", recording_fsync)
    monkeypatch.setattr(os, "replace", recording("rename", replace))
    monkeypatch.setattr(os, "rename", recording("rename", rename))
    path = tmp_path / "checkpoints" / "last.ckpt"
    state = {"state_dict": {"w": torch.arange(1000.0)}, "epoch": 3}
    AtomicCheckpointIO().save_checkpoint(state, path)

    onto = [i for i, e in enumerate(events) if e[0] == "rename" and e[2] == str(path)]
    assert len(onto) == 1, events
    temporary = events[onto[0]][1]
    assert temporary != str(path) and Path(temporary).parent == path.parent
    synced = [e for e in events[: onto[0]] if e[0] == "fsync" and e[1] == temporary]
    assert synced, f"{temporary} was not fsynced before it was renamed onto {path}: {events}"
    assert int(synced[-1][2]) == path.stat().st_size  # all of it was written when it was synced
    assert torch.equal(torch.load(path, weights_only=True)["state_dict"]["w"], state["state_dict"]["w"])
    tally("checkpoints fsynced before their rename")
