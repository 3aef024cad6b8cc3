"""Does data loading keep up? Training crops per second from the DataModule alone beside the model's.

Builds a style's run as ``lumastyle fit`` would (style + presets), trains ``--epochs`` epochs without
validation and times each epoch's training steps (the model's crops per second: loading, forward,
backward, step, as training runs them). Then, with the same DataModule (the context cache attached
when the preset uses one), iterates one epoch of the training loader alone with 0, 1 and 2 worker
processes and reports its crops per second. All in one run, so the ratio is fair.

    PYTHONPATH=. python benchmarks/bench_data.py --config spring --config configs/cpu-small.yaml
    PYTHONPATH=. python benchmarks/bench_data.py --config spring --config configs/cpu-scratch.yaml
"""

from __future__ import annotations

import argparse
import os
import time

from lightning.pytorch import Callback


class _Timer(Callback):
    def __init__(self) -> None:
        self.epochs: list[tuple[int, float]] = []  # (crops, seconds)
        self.loader: list[tuple[int, int, float]] = []  # (workers, crops, seconds)

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self.crops, self.start = 0, time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.crops += batch["input"].shape[0]

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self.epochs.append((self.crops, time.perf_counter() - self.start))

    def on_train_end(self, trainer, pl_module) -> None:  # before teardown: the cache is still attached
        datamodule = trainer.datamodule
        self.cached = datamodule.context_cache is not None
        for workers in (0, 1, 2):
            datamodule.num_workers = workers
            loader = datamodule.train_dataloader()
            start, crops = time.perf_counter(), 0
            for batch in loader:
                crops += batch["input"].shape[0]
            self.loader.append((workers, crops, time.perf_counter() - start))
            del loader


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", action="append", required=True, help="a style, then presets (as for fit)")
    parser.add_argument("--epochs", type=int, default=2, help="training epochs timed (the first warms up)")
    args, rest = parser.parse_known_args()
    os.environ.setdefault("WANDB_MODE", "disabled")

    from lumastyle.cli import build_cli

    argv = [a for c in args.config for a in ("--config", c)] + [
        "--trainer.max_epochs", str(args.epochs), "--trainer.limit_val_batches", "0",
        "--trainer.num_sanity_val_steps", "0", "--trainer.logger", "false", "--trainer.callbacks", "[]",
        "--trainer.enable_checkpointing", "false", "--trainer.enable_progress_bar", "false", *rest,
    ]  # fmt: skip
    cli = build_cli(argv, run=False)
    timer = _Timer()
    workers = min(cli.datamodule.num_workers, 2)  # as training loads (the timer then tries 0, 1 and 2)
    cli.trainer.callbacks.append(timer)
    cli.trainer.fit(cli.model, cli.datamodule)

    crops, seconds = timer.epochs[-1]
    print(f"\nconfig: {' + '.join(args.config)} {' '.join(rest)}; context from the cache: {timer.cached}")
    print("| what | crops | seconds | crops/s |\n|---|---:|---:|---:|")
    print(
        f"| training (last of {args.epochs} epochs, loading included) | {crops} | {seconds:.2f} | {crops / seconds:.1f} |"
    )
    for n, c, s in timer.loader:
        print(f"| DataModule alone, {n} worker(s) | {c} | {s:.2f} | {c / s:.1f} |")
    alone = {n: c / s for n, c, s in timer.loader}
    print(
        f"\nloader alone ({workers} worker(s), as trained) / training: {alone[workers] / (crops / seconds):.1f}x"
    )


if __name__ == "__main__":
    main()
