"""The Whisper-style audio encoder of Qwen-Audio (v1) and Qwen2-Audio (v2).

log-mel [B, n_mels, T] ─► conv1 (k3) ─► GELU ─► conv2 (k3, stride 2) ─► GELU ─► + positions
        ─► n_layers × pre-LN (self-attention, MLP) ─► avg-pool 2 ─► LayerNorm ─► [B, C//2, d_model]

With ``stack`` k > 1 (auricle's own option; 1 for both official families) each k consecutive pooled,
normalised states are concatenated into one audio token: [B, ceil(C//2 / k), k·d_model].

With ``tap_layers`` (auricle's own option; empty for both official families) the states after
those blocks are carried along beside the running state, pooled and normalised each with its own
LayerNorm, and concatenated after the top block's: the output is [B, C//2, d_model·(1 + taps)].
Between blocks a state tensor is [B, C, d_model·(1 + m)]: the running state, then the m taps
already passed, in order — the form an encoder cache stores.

The encoder runs on the real lengths of the batch (trimmed to its longest item, shorter items
masked as keys), never on a padded 30 s input, and every item's output equals what the reference
gives for that item alone:

* v1 (``edge="truncate"``) feeds conv1 exactly ``2·C`` mel frames of an item and zeros after them,
  as the official code does when it truncates the mel to twice the conv length.
* v2 (``edge="pad_frames"``) runs 3000 frames in the reference; conv2 at the last real position
  there reads the log-mel of the zero padding. We feed that item's frames up to index ``2·C`` (the
  feature extractor computes the padding frames with the right values) and the outputs match.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from auricle.model.config import EncoderConfig


def sinusoids(length: int, channels: int, max_timescale: float = 10000.0) -> torch.Tensor:
    """Whisper's fixed positional table [length, channels]: all sines, then all cosines."""
    assert channels % 2 == 0
    inc = math.log(max_timescale) / (channels // 2 - 1)
    inv = torch.exp(-inc * torch.arange(channels // 2, dtype=torch.float32))
    t = torch.arange(length, dtype=torch.float32)[:, None] * inv[None, :]
    return torch.cat([torch.sin(t), torch.cos(t)], dim=1)


def conv_lengths(mel_frames: torch.Tensor, n_ctx: int | None = None) -> torch.Tensor:
    """Encoder positions after the stride-2 conv: ``(M - 1) // 2 + 1``, at most ``n_ctx`` if given
    (the encoder's 30 s window)."""
    conv = torch.div(mel_frames - 1, 2, rounding_mode="floor") + 1
    return conv if n_ctx is None else conv.clamp(max=n_ctx)


def pooled_lengths(conv_len: torch.Tensor) -> torch.Tensor:
    """Audio tokens after the stride-2 average pool: ``(C - 2) // 2 + 1``."""
    return torch.div(conv_len - 2, 2, rounding_mode="floor") + 1


def stacked_lengths(n_tokens: torch.Tensor, stack: int) -> torch.Tensor:
    """Audio tokens after concatenating ``stack`` consecutive pooled states: ``ceil(N / stack)``."""
    return -torch.div(-n_tokens, stack, rounding_mode="floor")


def stack_states(x: torch.Tensor, n_tokens: torch.Tensor, stack: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Concatenate each run of ``stack`` consecutive states [B, N_max, D] into one [B, ceil(N_max /
    stack), stack·D]; an item's last token is zero-filled past its own ``n_tokens``, so that it does
    not depend on the other items of the batch."""
    if stack == 1:
        return x, n_tokens
    b, n_max, d = x.shape
    valid = torch.arange(n_max, device=x.device)[None, :] < n_tokens.to(x.device)[:, None]
    x = x.masked_fill(~valid[..., None], 0.0)
    x = F.pad(x, (0, 0, 0, -n_max % stack))
    return x.reshape(b, -1, stack * d), stacked_lengths(n_tokens, stack)


class EncoderAttention(nn.Module):
    """Multi-head self-attention; the key projection has no bias (as in Whisper)."""

    def __init__(self, d: int, n_heads: int) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.q = nn.Linear(d, d)
        self.k = nn.Linear(d, d, bias=False)
        self.v = nn.Linear(d, d)
        self.o = nn.Linear(d, d)

    def forward(self, x: torch.Tensor, key_mask: torch.Tensor | None) -> torch.Tensor:
        b, t, d = x.shape
        h = self.n_heads
        q = self.q(x).view(b, t, h, d // h).transpose(1, 2)
        k = self.k(x).view(b, t, h, d // h).transpose(1, 2)
        v = self.v(x).view(b, t, h, d // h).transpose(1, 2)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=key_mask)  # [B, H, T, hd]
        return self.o(out.transpose(1, 2).reshape(b, t, d))


class EncoderBlock(nn.Module):
    """Pre-LN residual block: ``x + attn(ln(x))`` then ``x + mlp(ln(x))`` with exact GELU."""

    def __init__(self, cfg: EncoderConfig) -> None:
        super().__init__()
        self.attn_norm = nn.LayerNorm(cfg.d_model, eps=cfg.layer_norm_eps)
        self.attn = EncoderAttention(cfg.d_model, cfg.n_heads)
        self.mlp_norm = nn.LayerNorm(cfg.d_model, eps=cfg.layer_norm_eps)
        self.fc1 = nn.Linear(cfg.d_model, cfg.ffn_dim)
        self.fc2 = nn.Linear(cfg.ffn_dim, cfg.d_model)

    def forward(self, x: torch.Tensor, key_mask: torch.Tensor | None) -> torch.Tensor:
        x = x + self.attn(self.attn_norm(x), key_mask)
        return x + self.fc2(F.gelu(self.fc1(self.mlp_norm(x))))


class AudioEncoder(nn.Module):
    """Log-mel frames to pooled, normalised encoder states (the projector lives in the AudioLM)."""

    def __init__(self, cfg: EncoderConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.conv1 = nn.Conv1d(cfg.n_mels, cfg.d_model, kernel_size=3, padding=1)
        self.conv2 = nn.Conv1d(cfg.d_model, cfg.d_model, kernel_size=3, stride=2, padding=1)
        table = sinusoids(cfg.n_ctx, cfg.d_model)
        if cfg.positions == "learned":
            self.positions = nn.Parameter(table, requires_grad=False)  # overwritten by the checkpoint
        else:
            self.register_buffer("positions", table, persistent=False)
        self.blocks = nn.ModuleList(EncoderBlock(cfg) for _ in range(cfg.n_layers))
        self.final_norm = nn.LayerNorm(cfg.d_model, eps=cfg.layer_norm_eps)
        self.tap_norms = nn.ModuleList(
            nn.LayerNorm(cfg.d_model, eps=cfg.layer_norm_eps) for _ in cfg.tap_layers
        )

    def hidden_states(
        self, mel: torch.Tensor, mel_frames: torch.Tensor, stop_layer: int | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Run the conv front end and blocks: ([B, C_max, d] before pooling, conv lengths [B]).

        ``mel`` is [B, n_mels, T] with at least ``2·C_max + 1`` frames where the batch allows
        (fewer only at the 30 s limit); ``mel_frames`` the per-item frame count of the length rule.
        ``stop_layer`` runs only blocks ``[0, stop_layer)`` — the states a training cache stores
        while those blocks are frozen; :meth:`forward_from` continues from them.
        """
        # frames may come from the CPU (the feature batch counts samples there) while mel is on the GPU
        conv_len = conv_lengths(mel_frames.to(device=mel.device, dtype=torch.long), self.cfg.n_ctx)
        c_max = int(conv_len.max())
        frame_idx = torch.arange(2 * c_max + 1, device=mel.device)
        need = 2 * c_max if self.cfg.edge == "truncate" else 2 * c_max + 1
        need = min(need, 2 * self.cfg.n_ctx)
        x = mel[..., :need]
        if x.shape[-1] < need:  # only at the 30 s edge, where the reference pads conv input with zeros
            x = F.pad(x, (0, need - x.shape[-1]))
        x = x.to(self.conv1.weight.dtype)
        if self.cfg.edge == "truncate" and (conv_len != c_max).any():
            # each item sees zeros after its own 2·C frames, exactly as if it were alone
            keep = frame_idx[None, :need] < (2 * conv_len)[:, None]
            x = x * keep[:, None, :].to(x.dtype)
        x = F.gelu(self.conv1(x))
        x = F.gelu(self.conv2(x))[..., :c_max].transpose(1, 2)  # [B, C_max, d]
        x = x + self.positions[:c_max].to(x.dtype)
        return self.run_blocks(x, conv_len, 0, stop_layer), conv_len

    def run_blocks(
        self, x: torch.Tensor, conv_len: torch.Tensor, start: int = 0, stop: int | None = None
    ) -> torch.Tensor:
        """Blocks ``[start, stop)`` over states [B, C_max, d·(1 + taps passed)], masking keys past
        each item's length; the states after each tap in ``[start, stop)`` are appended."""
        c_max = x.shape[1]
        key_mask = None
        if (conv_len != c_max).any():
            valid = torch.arange(c_max, device=x.device)[None, :] < conv_len[:, None]
            key_mask = valid[:, None, None, :]  # [B, 1, 1, C] bool, True = attend
        d = self.cfg.d_model
        x, taps = x[..., :d], [x[..., d:]] if x.shape[-1] > d else []
        stop = len(self.blocks) if stop is None else stop
        for i in range(start, stop):
            if i in self.cfg.tap_layers:
                taps.append(x)
            x = self.blocks[i](x, key_mask)
        return torch.cat([x, *taps], dim=-1) if taps else x

    def pool(self, x: torch.Tensor, conv_len: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Average-pool pairs of positions, normalise and stack ``cfg.stack`` of them into one token:
        ([B, N_max, pooled_dim], tokens per item [B])."""
        x, n_tokens = self.pool_states(x, conv_len)
        return stack_states(self.normalise(x), n_tokens, self.cfg.stack)

    def pool_states(self, x: torch.Tensor, conv_len: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Average-pool pairs of positions, before the norms: ([B, N_max, width of x], tokens [B])."""
        x = F.avg_pool1d(x.transpose(1, 2), kernel_size=2, stride=2).transpose(1, 2)
        n_tokens = pooled_lengths(conv_len).clamp(min=0)
        return x[:, : int(n_tokens.max())], n_tokens

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        """The final LayerNorm of pooled states; with taps, each tap's part gets its own LayerNorm."""
        if not self.tap_norms:
            return self.final_norm(x)
        parts = x.split(self.cfg.d_model, dim=-1)
        norms = [self.final_norm, *self.tap_norms]
        return torch.cat([norm(part) for norm, part in zip(norms, parts, strict=True)], dim=-1)

    def forward(self, mel: torch.Tensor, mel_frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Encode a batch: (audio tokens [B, N_max, pooled_dim], tokens per item [B])."""
        x, conv_len = self.hidden_states(mel, mel_frames)
        return self.pool(x, conv_len)

    def forward_from(
        self, states: torch.Tensor, lengths: torch.Tensor, start_layer: int, pooled: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Like :meth:`forward`, continuing from states after block ``start_layer - 1`` (a cache).

        ``lengths`` are the conv lengths of ``states``; with ``pooled`` the states are the whole
        encoder's output already average-pooled (not yet normalised) and ``lengths`` their tokens.
        """
        if pooled:
            return stack_states(self.normalise(states), lengths, self.cfg.stack)
        return self.pool(self.run_blocks(states, lengths, start_layer), lengths)
