"""Checkpoints that survive a kill: atomic writes, and the random state that makes a resume exact.

- **Atomic** (:mod:`lumastyle.checkpoint_io`, Lightning's side; this module imports no Lightning, so
  ``stylize`` loads checkpoints without it): a checkpoint is written to a hidden temporary file beside
  its final name, flushed to disk, then renamed onto the name in one step. A process killed while
  saving (SIGKILL, a full disk, a lost node) leaves the previous checkpoint of that name whole; a failed
  write is one line (:class:`LumastyleError`) naming the file. Lightning's own save writes the final
  file in place, so a kill during it leaves a truncated checkpoint that resumes nowhere.
- **Versioned**: lumastyle's own section of a checkpoint (``checkpoint["lumastyle"]``,
  :func:`extra_state`) carries :data:`CHECKPOINT_FORMAT`; :func:`check_checkpoint` refuses a file that
  is not a lumastyle checkpoint, or of another format, in one line before anything is built from it.
- **Exact resume**: each checkpoint holds the random state of torch, numpy and Python (CUDA too on a
  GPU) of every process as the epoch it ends left it (:func:`random_states`: a distributed run gathers
  them to the process that writes, a list indexed by rank). ``--ckpt_path last`` gives each process its
  own (:func:`restore_random_state`) before the next epoch starts, so the resumed epochs draw the same
  shuffles, crops and flips on every process as an uninterrupted run and reach the same weights and
  metrics (the samplers' positions follow: checkpoints end epochs, and a distributed sampler's order
  is its seed and the epoch, which :func:`lumastyle.data.base.epoch_sampler` sets before a resumed
  run's first iterator takes it; loader workers are seeded from the restored state). A run resumed by
  another number of processes splits the photos differently, so it cannot be exact: it says so in one
  warning line, and each process still takes its rank's state where the checkpoint holds one. Stored
  as tensors and plain numbers, so checkpoints still load with ``weights_only=True``.
- **Small**: a backbone whose conv1-conv5 are frozen at exactly lumastyle's bundled VGG-16 weights
  (the CPU preset) is saved without them: :func:`leave_out_bundled` records the weights file's name,
  the SHA-256 of its tensors (:func:`lumastyle.backbone.bundled_features`) and which backbones, and
  :func:`restore_bundled` puts them back from the installed package before the state is loaded (after
  checking the hash), so every way of loading sees the whole state (Lightning's ``strict`` loading,
  ``--ckpt_path``, ``load_from_checkpoint``). The 29.4M frozen parameters of the preset's two
  backbones are 118 MB of the 131 MB (125 MiB) such a checkpoint held before (13 MB now). Trained, fine-tuned, ``imagenet``
  or other weights are stored as before; checkpoints of format 2 (all weights inside) still load.
"""

from __future__ import annotations

import os
import random
import warnings
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from lumastyle.backbone import BUNDLED_WEIGHTS, DilatedVGG16, bundled_features
from lumastyle.errors import LumastyleError

#: Version of the extra state lumastyle stores in checkpoints (``checkpoint["lumastyle"]``): 3 may leave
#: out bundled backbone weights (:func:`leave_out_bundled`).
CHECKPOINT_FORMAT = 3
#: The oldest format this version reads (2: every weight inside the checkpoint).
OLDEST_FORMAT = 2
#: ``checkpoint["lumastyle"]`` key of the reference to the bundled weights a checkpoint leaves out.
BUNDLED_REFERENCE = "bundled_backbone"


def random_state() -> dict[str, Any]:
    """The random state of torch (and CUDA), numpy and Python, as tensors and plain numbers."""
    numpy_state = np.random.get_state(legacy=True)
    assert isinstance(numpy_state, tuple)  # the legacy form: np.random's generator is an MT19937
    name, keys, pos, has_gauss, gauss = numpy_state
    version, internal, gauss_next = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": [name, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(gauss)],
        "python": [version, list(internal), gauss_next],
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_random_state(state: dict[str, Any]) -> None:
    """Restore what :func:`random_state` returned."""
    torch.set_rng_state(state["torch"])
    name, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    version, internal, gauss_next = state["python"]
    random.setstate((version, tuple(internal), gauss_next))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def seed_rank(rank: int) -> None:
    """Reseed torch, numpy and Python in process ``rank`` (> 0) of a distributed run from the seed every
    process starts with (``torch.initial_seed()``: ``seed_everything``'s) and the rank, so each process
    draws crops and flips of its own, as one seed gives every process the same numbers (Lightning
    derives only DataLoader workers' seeds per rank). Rank 0 keeps the seed: it draws what one process
    would. The same seed and rank give the same numbers, so runs stay reproducible."""
    if rank == 0:
        return
    words = [int(w) for w in np.random.SeedSequence([torch.initial_seed(), rank]).generate_state(4)]
    torch.manual_seed(words[0] << 32 | words[1])
    np.random.seed(words[2])
    random.seed(words[3])


def random_states() -> list[dict[str, Any]]:
    """Every process's :func:`random_state`, indexed by global rank: gathered from all of them in a
    distributed run (a collective: every process calls it, as Lightning has every process build the
    checkpoint that rank 0 writes), this process's alone otherwise."""
    own = random_state()
    distributed = dist.is_available() and dist.is_initialized()
    if not distributed or dist.get_world_size() == 1:
        return [own]
    gathered: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, own)  # pickled: works for gloo and NCCL alike
    return gathered


def restore_random_state(extra: dict[str, Any], rank: int, world_size: int, path: Any = None) -> None:
    """Give this process (``rank`` of ``world_size``) its random state from a checkpoint's lumastyle
    section (:func:`random_states`; a checkpoint of format 2 or 3 holds one process's, ``random_state``).
    Written by another number of processes: one warning line (the resume cannot be exact, the photos
    are split among the processes differently) and each process takes its rank's state where there is
    one, so the processes keep drawing different crops; a rank the checkpoint has none for keeps its own."""
    saved = extra.get("random_states")
    if saved is None:
        saved = [extra["random_state"]] if extra.get("random_state") is not None else []
    if not saved:
        return
    if len(saved) != world_size and rank == 0:  # one line for the run
        warnings.warn(
            f"{path or 'the checkpoint'}: written by {len(saved)} process(es), resumed by {world_size}: the "
            "photos are split among the processes differently, so this run will not reach the weights an "
            "uninterrupted one would (resume with the same number of devices and nodes for that)",
            stacklevel=2,
        )
    if rank < len(saved):
        set_random_state(saved[rank])


def extra_state(trained_long_side: int | None) -> dict[str, Any]:
    """lumastyle's section of a checkpoint: its format, the training scale ``stylize`` needs, and every
    process's random state a resume restores (:func:`random_states`; a collective in a distributed run)."""
    states = random_states()
    return {"format": CHECKPOINT_FORMAT, "trained_long_side": trained_long_side, "random_states": states}


def leave_out_bundled(checkpoint: dict[str, Any], backbones: dict[str, DilatedVGG16]) -> None:
    """Take the conv1-conv5 weights of each backbone (by its state-dict prefix, ``network.context.
    backbones.0.``) that holds the bundled ones frozen (:meth:`DilatedVGG16.holds_bundled_lower`) out of
    ``checkpoint["state_dict"]``, and record a reference to them in ``checkpoint["lumastyle"]``."""
    prefixes = [prefix for prefix, backbone in backbones.items() if backbone.holds_bundled_lower()]
    if not prefixes:
        return
    bundled, digest = bundled_features()
    state = checkpoint["state_dict"]
    for prefix in prefixes:
        for name in bundled:
            del state[prefix + name]
    reference = {"file": BUNDLED_WEIGHTS, "sha256": digest, "backbones": prefixes}
    checkpoint["lumastyle"][BUNDLED_REFERENCE] = reference


def _check_bundled(extra: dict[str, Any], path: str | os.PathLike | None) -> dict[str, Any] | None:
    """The checkpoint's reference to left-out bundled weights (None: it has none), or a one-line
    LumastyleError when this install's bundled weights are not the ones it refers to."""
    reference = extra.get(BUNDLED_REFERENCE)
    if not reference:
        return None
    _, digest = bundled_features()
    if reference.get("sha256") != digest:
        raise LumastyleError(
            f"{path or 'the checkpoint'}: its frozen conv1-conv5 are lumastyle's bundled {reference.get('file')} "
            f"(sha256 {str(reference.get('sha256'))[:12]}), which this install's (sha256 {digest[:12]}) are "
            "not; load it with the lumastyle release that trained it, or train it again"
        )
    return reference


def restore_bundled(checkpoint: dict[str, Any], path: str | os.PathLike | None = None) -> None:
    """Put the bundled weights a checkpoint left out (:func:`leave_out_bundled`) back into its
    ``state_dict`` (float32, as ``weights: bundled`` loads them), after checking their hash; ``path``
    names the checkpoint in the error."""
    reference = _check_bundled(checkpoint.get("lumastyle") or {}, path)
    if reference is None:
        return
    bundled, _ = bundled_features()
    state = checkpoint["state_dict"]
    for prefix in reference["backbones"]:
        for name, tensor in bundled.items():
            state.setdefault(prefix + name, tensor.float())


def check_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """The checkpoint at ``path`` (tensors memory-mapped; bundled weights it left out are not put back),
    or a one-line LumastyleError saying why not (a file that is no lumastyle checkpoint, of a format
    this version does not read, or that refers to bundled weights this install does not have)."""
    if not os.path.isfile(path):
        raise LumastyleError(
            f"checkpoint {path} does not exist; pass a .ckpt file written by 'lumastyle fit'"
        )
    try:
        raw = torch.load(path, map_location="cpu", mmap=True, weights_only=True)
    except Exception as err:  # torch raises many types for a file that is not a checkpoint
        raise LumastyleError(
            f"{path}: not a readable checkpoint ({type(err).__name__}); pass a .ckpt from 'lumastyle fit'"
        ) from None
    extra = raw.get("lumastyle") if isinstance(raw, dict) else None
    if not isinstance(extra, dict) or "state_dict" not in raw:
        raise LumastyleError(f"{path}: not a lumastyle checkpoint (no model state or lumastyle section)")
    found = extra.get("format", 0)
    if found > CHECKPOINT_FORMAT:
        raise LumastyleError(f"{path}: written by a newer lumastyle (format {found}); upgrade lumastyle")
    if found < OLDEST_FORMAT:
        raise LumastyleError(
            f"{path}: written by an older lumastyle (checkpoint format {found}, this one reads "
            f"{OLDEST_FORMAT} to {CHECKPOINT_FORMAT}); train it again with this version"
        )
    _check_bundled(extra, path)
    return raw
