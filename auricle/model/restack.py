"""Change how many pooled encoder states an audio token concatenates (``encoder.stack``) in place.

Only the projector reads stacked tokens, and it is linear: with stack K its weight is K blocks
``[W_1 … W_K]``, one per state. Folding them, ``W = W_1 + … + W_K``, reads one state exactly as the
stacked token of K copies of it; splitting, ``[W/K′ … W/K′]``, reads K′ states as the projection of
their mean. So a model trained with stacked tokens (cheaper steps) continues with finer ones from a
projector that starts where it was, and only the decoder has to learn the new spacing
(docs/training.md, "Stacked audio tokens").
"""

from __future__ import annotations

import dataclasses

import torch

from auricle.model.audiolm import AudioLM


def restack(model: AudioLM, stack: int) -> AudioLM:
    """Set ``model``'s ``encoder.stack`` to ``stack``, refolding its projector (returns ``model``).

    The other weights are untouched; ``model.cfg`` and ``model.encoder.cfg`` get the new value.
    """
    encoder_cfg = dataclasses.replace(model.cfg.encoder, stack=stack)  # validates ``stack``
    old = model.cfg.encoder.stack
    if stack == old:
        return model
    weight = model.projector.weight.detach()
    width = weight.shape[1] // old  # the features of one pooled state (with its taps)
    per_state = weight.reshape(weight.shape[0], old, width).sum(dim=1)
    folded = (per_state / stack).repeat(1, stack)
    model.cfg = dataclasses.replace(model.cfg, encoder=encoder_cfg)
    model.encoder.cfg = encoder_cfg
    projector = torch.nn.Linear(
        encoder_cfg.pooled_dim, weight.shape[0], dtype=weight.dtype, device=weight.device
    )
    with torch.no_grad():
        projector.weight.copy_(folded)
        projector.bias.copy_(model.projector.bias)
    projector.requires_grad_(model.projector.weight.requires_grad)
    model.projector = projector
    return model
