"""The Qwen (v1) / Qwen2 (v2) decoder: RMSNorm, RoPE, grouped-query attention through SDPA, SwiGLU.

Positions are explicit per token (``positions`` [B, S]), so a left-padded batch gives each row the
positions it would have alone; keys are masked by a per-row validity mask. The KV cache is
preallocated once (:class:`KVCache`) and filled in place.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from auricle.model.config import TextConfig


class RMSNorm(nn.Module):
    """``weight · x / rms(x)``, normalised in fp32 and cast back before the weight (as Qwen does)."""

    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.float()
        h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * h.to(x.dtype)


@dataclass
class KVCache:
    """Preallocated keys and values per layer: [B, n_kv_heads, max_len, head_dim] each."""

    k: list[torch.Tensor]
    v: list[torch.Tensor]

    @classmethod
    def allocate(
        cls, cfg: TextConfig, batch: int, max_len: int, dtype: torch.dtype, device: torch.device | str
    ) -> KVCache:
        """Zeroed cache for ``batch`` rows of up to ``max_len`` positions."""
        shape = (batch, cfg.n_kv_heads, max_len, cfg.head_dim)
        return cls(
            [torch.zeros(shape, dtype=dtype, device=device) for _ in range(cfg.n_layers)],
            [torch.zeros(shape, dtype=dtype, device=device) for _ in range(cfg.n_layers)],
        )

    @property
    def max_len(self) -> int:
        return self.k[0].shape[2]

    def select(self, rows: torch.Tensor) -> None:
        """Keep only the given batch rows (drop finished sequences), in place."""
        self.k = [t[rows] for t in self.k]
        self.v = [t[rows] for t in self.v]


class Rotary(nn.Module):
    """Rotate-half RoPE with dynamic-NTK base scaling (v1, inference beyond ``seq_length``)."""

    def __init__(self, cfg: TextConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.dim = cfg.head_dim

    def inv_freq(self, ntk_alpha: float, device: torch.device) -> torch.Tensor:
        base = self.cfg.rope_theta * ntk_alpha ** (self.dim / (self.dim - 2))
        return 1.0 / base ** (torch.arange(0, self.dim, 2, device=device, dtype=torch.float32) / self.dim)

    def cos_sin(
        self, positions: torch.Tensor, ntk_alpha: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """cos, sin [B, 1, S, head_dim] in fp32 for integer positions [B, S]."""
        if ntk_alpha is None:
            inv = self.inv_freq(1.0, positions.device)[None, :]  # [1, D/2]
        else:
            inv = torch.stack([self.inv_freq(float(a), positions.device) for a in ntk_alpha])  # [B, D/2]
        freqs = positions.float()[:, :, None] * inv[:, None, :]  # [B, S, D/2]
        emb = torch.cat([freqs, freqs], dim=-1)[:, None]
        return emb.cos(), emb.sin()


def _activation_dtype(x: torch.Tensor) -> torch.dtype:
    """The dtype the layers compute in: autocast's where it is on, else that of ``x``."""
    device = x.device.type
    return torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else x.dtype


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat([-x2, x1], dim=-1)


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, in_fp32: bool) -> torch.Tensor:
    """``x·cos + rotate_half(x)·sin``, in fp32 (v1) or in the activation dtype (v2)."""
    if in_fp32:
        xf = x.float()
        return (xf * cos + _rotate_half(xf) * sin).to(x.dtype)
    cos, sin = cos.to(x.dtype), sin.to(x.dtype)
    return x * cos + _rotate_half(x) * sin


class Attention(nn.Module):
    """Causal GQA self-attention with q/k/v bias and no output bias."""

    def __init__(self, cfg: TextConfig) -> None:
        super().__init__()
        self.cfg = cfg
        hd = cfg.head_dim
        self.q = nn.Linear(cfg.hidden_size, cfg.n_heads * hd)
        self.k = nn.Linear(cfg.hidden_size, cfg.n_kv_heads * hd)
        self.v = nn.Linear(cfg.hidden_size, cfg.n_kv_heads * hd)
        self.o = nn.Linear(cfg.n_heads * hd, cfg.hidden_size, bias=False)

    def forward(
        self,
        x: torch.Tensor,
        rope: tuple[torch.Tensor, torch.Tensor],
        mask: torch.Tensor,
        layer_cache: tuple[torch.Tensor, torch.Tensor] | None,
        cache_pos: int,
        logn: torch.Tensor | None,
    ) -> torch.Tensor:
        b, s, _ = x.shape
        cfg = self.cfg
        hd = cfg.head_dim
        q = self.q(x).view(b, s, cfg.n_heads, hd).transpose(1, 2)
        k = self.k(x).view(b, s, cfg.n_kv_heads, hd).transpose(1, 2)
        v = self.v(x).view(b, s, cfg.n_kv_heads, hd).transpose(1, 2)
        cos, sin = rope
        q = apply_rotary(q, cos, sin, cfg.rope_in_fp32)
        k = apply_rotary(k, cos, sin, cfg.rope_in_fp32)
        if logn is not None:
            q = q * logn.to(q.dtype)
        if layer_cache is not None:
            ck, cv = layer_cache
            ck[:, :, cache_pos : cache_pos + s] = k
            cv[:, :, cache_pos : cache_pos + s] = v
            k, v = ck[:, :, : cache_pos + s], cv[:, :, : cache_pos + s]
        out = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, enable_gqa=cfg.n_kv_heads != cfg.n_heads
        )
        return self.o(out.transpose(1, 2).reshape(b, s, cfg.n_heads * hd))


class MLP(nn.Module):
    """SwiGLU: ``down(silu(gate(x)) · up(x))``, no biases."""

    def __init__(self, cfg: TextConfig) -> None:
        super().__init__()
        self.gate = nn.Linear(cfg.hidden_size, cfg.intermediate_size, bias=False)
        self.up = nn.Linear(cfg.hidden_size, cfg.intermediate_size, bias=False)
        self.down = nn.Linear(cfg.intermediate_size, cfg.hidden_size, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(F.silu(self.gate(x)) * self.up(x))


class DecoderLayer(nn.Module):
    """Pre-norm block: ``h = x + attn(norm(x))``, ``y = h + mlp(norm(h))``."""

    def __init__(self, cfg: TextConfig) -> None:
        super().__init__()
        self.attn_norm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.attn = Attention(cfg)
        self.mlp_norm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.mlp = MLP(cfg)

    def forward(self, x, rope, mask, layer_cache, cache_pos, logn):  # noqa: ANN001 - internal
        x = x + self.attn(self.attn_norm(x), rope, mask, layer_cache, cache_pos, logn)
        return x + self.mlp(self.mlp_norm(x))


class TextModel(nn.Module):
    """Token embeddings, decoder layers and the final norm (the LM head lives in the AudioLM)."""

    def __init__(self, cfg: TextConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab_size, cfg.hidden_size)
        self.layers = nn.ModuleList(DecoderLayer(cfg) for _ in range(cfg.n_layers))
        self.norm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.rotary = Rotary(cfg)
        self.gradient_checkpointing = False

    def init_weights(self, std: float = 0.02) -> None:
        """Initialisation for training a fresh decoder: N(0, std) weights (output projections scaled
        down by ``sqrt(2 · n_layers)``, as in GPT-2), zero biases, unit norms. With torch's default
        init (N(0, 1) embeddings) a tied head starts with logits in the hundreds."""
        out_std = std / math.sqrt(2 * self.cfg.n_layers)
        for name, p in self.named_parameters():
            if p.is_meta:
                continue
            with torch.no_grad():
                if name.endswith("bias"):
                    p.zero_()
                elif p.dim() == 1:
                    p.fill_(1.0)
                else:
                    p.normal_(0.0, out_std if name.endswith(("attn.o.weight", "mlp.down.weight")) else std)

    def ntk_alpha(self, true_lengths: torch.Tensor) -> torch.Tensor | None:
        """v1 dynamic-NTK alpha per row from its real length (None when inactive: training or short)."""
        if not self.cfg.dynamic_ntk or self.training or int(true_lengths.max()) <= self.cfg.seq_length:
            return None
        ratio = true_lengths.float() / self.cfg.seq_length
        alpha = 2 ** torch.ceil(torch.log2(ratio) + 1) - 1
        return alpha.clamp(min=1.0)

    def logn_scale(self, positions: torch.Tensor) -> torch.Tensor | None:
        """v1 query scaling ``log(p+1)/log(seq_length)`` beyond ``seq_length`` ([B, 1, S, 1] or None)."""
        if not self.cfg.logn_attn or self.training or int(positions.max()) + 1 <= self.cfg.seq_length:
            return None
        p1 = positions.float() + 1
        scale = torch.where(
            p1 > self.cfg.seq_length, torch.log(p1) / math.log(self.cfg.seq_length), torch.ones_like(p1)
        )
        return scale[:, None, :, None]

    def forward(
        self,
        embeds: torch.Tensor,
        positions: torch.Tensor,
        key_valid: torch.Tensor,
        cache: KVCache | None = None,
        cache_pos: int = 0,
        ntk_alpha: torch.Tensor | None = None,
        branches: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Decoder states [B, S, H] for input embeddings [B, S, H].

        ``positions`` [B, S] are each token's position in its own sequence; ``key_valid`` [B, K] marks
        real (non-padding) keys over the cache plus the new tokens (K = cache_pos + S).
        ``branches`` [B, S] (no cache) packs several sequences sharing a prefix into one row: 0 marks
        the shared prefix, ``k > 0`` the k-th continuation, which sees the prefix and itself only.
        """
        b, s, _ = embeds.shape
        kv_len = cache_pos + s
        q_abs = torch.arange(cache_pos, kv_len, device=embeds.device)
        k_abs = torch.arange(kv_len, device=embeds.device)
        causal = k_abs[None, :] <= q_abs[:, None]  # [S, K]
        # a padding query attends to itself only, so no row of the mask is empty (no NaNs)
        allowed = causal[None] & key_valid[:, None, :]
        if branches is not None:
            if cache_pos:
                raise ValueError("branches (packed continuations) are for training: no KV cache")
            allowed = allowed & ((branches[:, None, :] == 0) | (branches[:, None, :] == branches[:, :, None]))
        allowed = (allowed | (k_abs[None, None, :] == q_abs[None, :, None]))[:, None]  # [B, 1, S, K]
        # Once per forward rather than in every layer (each conversion is a kernel launch per layer,
        # which decides a small-batch decode step's speed on a GPU): the boolean mask as the additive
        # 0 / -inf mask attention would build from it, and cos/sin in the activation dtype.
        dtype = _activation_dtype(embeds)
        mask = torch.zeros(allowed.shape, dtype=dtype, device=embeds.device).masked_fill_(~allowed, -math.inf)
        cos, sin = self.rotary.cos_sin(positions, ntk_alpha)
        rope = (cos, sin) if self.cfg.rope_in_fp32 else (cos.to(dtype), sin.to(dtype))
        logn = self.logn_scale(positions)
        x = embeds
        for i, layer in enumerate(self.layers):
            layer_cache = (cache.k[i], cache.v[i]) if cache is not None else None
            if self.gradient_checkpointing and self.training:
                x = torch.utils.checkpoint.checkpoint(
                    layer, x, rope, mask, layer_cache, cache_pos, logn, use_reentrant=False
                )
            else:
                x = layer(x, rope, mask, layer_cache, cache_pos, logn)
        return self.norm(x)
