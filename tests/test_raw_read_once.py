"""A camera RAW is read from disk once when it is decoded (lumastyle.decoders): LibRaw decodes the
bytes that the truncation check and the metadata read, rather than opening the file again."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from decoder_samples import write_dng

from lumastyle import decoders


def test_a_raw_is_decoded_from_its_one_read(tmp_path, monkeypatch):
    """The file is removed the moment its bytes are read: the photo still decodes, to what it decodes
    to from the file, with its metadata (a second read, LibRaw's by name, would find no file)."""
    scene = np.tile(np.linspace(0.05, 0.35, 32), (24, 1))[..., None].repeat(3, axis=2)
    path = write_dng(tmp_path / "shot.dng", scene)
    expected = decoders.decode(path)
    reads = []
    read_bytes = Path.read_bytes

    def read_and_remove(self: Path) -> bytes:
        data = read_bytes(self)
        reads.append(self)
        self.unlink()
        return data

    monkeypatch.setattr(Path, "read_bytes", read_and_remove)
    out = decoders.decode(path)
    assert reads == [path] and not path.exists()
    assert np.array_equal(out.array, expected.array)
    assert (out.exif, out.xmp) == (expected.exif, expected.xmp) and out.exif is not None
