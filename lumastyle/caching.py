"""The context cache's life in a fit: which cache, built when, served to which loaders.

:mod:`lumastyle.cache` stores and reads maps; this module decides, for one network and one
DataModule, what is cached and connects the two, so the LightningModule only calls it from its hooks:

1. :meth:`ContextCaching.prepare` (Lightning's ``prepare_data``, once per node): compute the maps of
   every training photo (each orientation the loader flips to) and every validation photo (as
   ``stylize`` computes its context: capped at the context cap) that is not cached yet, or damaged.
2. :meth:`ContextCaching.attach` (``setup``, every process): every entry is checked once in this
   process (the ones ``prepare`` checked are not read again; a DDP process other than the one that
   prepared checks them all, and rebuilds one damaged since), then the DataModule's loaders serve
   windows of those maps with each crop; :meth:`ContextCaching.detach` (``teardown``) stops that and
   lets other runs evict the entries (:mod:`lumastyle.cache`: the in-use lists).

The cache applies only while fitting, with a DataModule that offers
:class:`~lumastyle.style_data.CachedContextData`, and when the network's lower context does not train
(a frozen conv1-conv5): otherwise :meth:`ContextCaching.for_network` gives None and nothing is cached.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from lumastyle.cache import ContextCache, default_folder
from lumastyle.network import StyleNetwork
from lumastyle.style_data import CachedContextData


@dataclass
class ContextCaching:
    """The context cache of one network's lower context (see the module docstring).

    Args:
        network: the network whose :meth:`~lumastyle.network.StyleNetwork.lower_context` is cached.
        cache: where its maps are kept.
        context_long_side: the context cap validation photos are cached at (``model.context.long_side``;
            None: the training scale of the DataModule, as ``stylize`` of the trained model uses).
    """

    network: StyleNetwork
    cache: ContextCache
    context_long_side: int | None = None

    @classmethod
    def for_network(
        cls, network: StyleNetwork, setting: bool | str | None, context_long_side: int | None = None
    ) -> ContextCaching | None:
        """The caching of ``network`` for ``model.context.cache`` ``setting`` (null or true: the default
        folder, a folder, or false), or None when it is off or would not help (no backbone, or it trains)."""
        if setting is False or not network.lower_frozen() or network.context is None:
            return None
        folder = default_folder() if setting in (None, True) else Path(str(setting)).expanduser()
        cache = ContextCache(folder, network.lower_fingerprint(), network.context.scales)
        return cls(network, cache, context_long_side)

    def validation_long_side(self, data: CachedContextData) -> int | None:
        """The cap of the validation photos' context: the model's, else the training scale."""
        return self.context_long_side or data.image_long_side

    def prepare(self, data: CachedContextData, device: torch.device) -> int:
        """Compute every map ``data``'s loaders will read that is not cached yet (on ``device``; the
        network goes back to the CPU after); returns how many were computed."""
        entries = data.context_entries(self.validation_long_side(data))
        self.network.to(device)
        try:
            return self.cache.build(entries, data.context_image, self.network.lower_context, device)
        finally:
            self.network.to("cpu")

    def attach(self, data: CachedContextData) -> None:
        """Check every entry ``data``'s loaders read (once per process; a damaged or missing one is
        rebuilt, where the network is), then let those loaders serve windows of the cached maps."""
        entries = data.context_entries(self.validation_long_side(data))
        device = next(self.network.parameters()).device
        self.cache.build(entries, data.context_image, self.network.lower_context, device)
        data.attach_context_cache(self.cache, self.validation_long_side(data))

    def detach(self, data: CachedContextData) -> None:
        data.attach_context_cache(None, None)
        self.cache.release()

    def training_conv5_maps(self, data: CachedContextData) -> Iterator[list[Tensor]]:
        """Each training photo's cached conv5 maps (one per scale), for the context calibration."""
        scales = self.network.num_scales
        for entry in data.training_context_entries():
            yield self.cache.load(entry)["features"][:scales]
