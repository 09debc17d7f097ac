"""AudioLM: the audio encoder and projector spliced into the text decoder.

Audio enters the token sequence at placeholder spans found in ``input_ids`` in row-major order
(the order the reference implementations use), so the i-th audio of a batch fills the i-th span:

* ``audio_boundary="learned"`` (v1): each span runs from ``<audio>`` to the next ``</audio>``,
  inclusive, and is overwritten by ``[bos, frame_0 … frame_{N-1}, eos]`` with learned bos/eos rows.
* ``audio_boundary="tokens"`` (v2): each maximal run of ``<|AUDIO|>`` ids is overwritten by the
  projected frames; ``<|audio_bos|>``/``<|audio_eos|>`` around it are ordinary tokens.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from auricle.errors import PromptError
from auricle.model.config import AudioLMConfig
from auricle.model.encoder import AudioEncoder
from auricle.model.text import KVCache, TextModel


@dataclass
class AudioSpan:
    """Where one audio goes: ``input_ids[row, start:end]`` (end exclusive)."""

    row: int
    start: int
    end: int


class AudioLM(nn.Module):
    """The whole model. Parameter names are auricle's own; ``auricle.checkpoint`` maps official names."""

    def __init__(self, cfg: AudioLMConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder = AudioEncoder(cfg.encoder)
        self.projector = nn.Linear(cfg.encoder.pooled_dim, cfg.text.hidden_size)
        if cfg.audio_boundary == "learned":
            self.audio_bos_eos = nn.Embedding(2, cfg.text.hidden_size)
        self.text = TextModel(cfg.text)
        self.lm_head = nn.Linear(cfg.text.hidden_size, cfg.text.vocab_size, bias=False)
        self.tie_weights()

    def tie_weights(self) -> None:
        """Share the LM head with the token embedding when the config ties them (again after
        ``load_state_dict(assign=True)``, which replaces parameters one by one)."""
        if self.cfg.text.tie_embeddings:
            self.lm_head.weight = self.text.embed.weight

    def init_text_weights(self, std: float = 0.02) -> None:
        """Initialise the decoder and LM head for training from scratch (see TextModel.init_weights)."""
        self.text.init_weights(std)
        if not self.cfg.text.tie_embeddings:
            with torch.no_grad():
                self.lm_head.weight.normal_(0.0, std)

    # ---------------------------------------------------------------------------------- audio
    def encode_audio(self, mel: torch.Tensor, mel_frames: torch.Tensor) -> list[torch.Tensor]:
        """Per-audio embeddings for the LLM: [N_i (+2 for learned bos/eos), hidden] each."""
        return self.project_audio(*self.encoder(mel, mel_frames))

    def encode_audio_from(
        self, states: torch.Tensor, lengths: torch.Tensor, start_layer: int, pooled: bool = False
    ) -> list[torch.Tensor]:
        """:meth:`encode_audio` continuing from cached encoder states after block ``start_layer - 1``
        (``pooled``: the whole encoder's average-pooled output, see :meth:`AudioEncoder.forward_from`)."""
        return self.project_audio(*self.encoder.forward_from(states, lengths, start_layer, pooled))

    def project_audio(self, states: torch.Tensor, n_tokens: torch.Tensor) -> list[torch.Tensor]:
        """Project pooled encoder states into the LLM and add learned bos/eos rows where used."""
        proj = self.projector(states)
        out = []
        for i, n in enumerate(n_tokens.tolist()):
            e = proj[i, :n]
            if self.cfg.audio_boundary == "learned":
                bos_eos = self.audio_bos_eos.weight.to(e.dtype)
                e = torch.cat([bos_eos[:1], e, bos_eos[1:]], dim=0)
            out.append(e)
        return out

    def find_audio_spans(self, input_ids: torch.Tensor) -> list[AudioSpan]:
        """The placeholder spans of ``input_ids`` [B, S] in row-major order."""
        spans: list[AudioSpan] = []
        ids = input_ids.tolist()
        for row, seq in enumerate(ids):
            if self.cfg.audio_boundary == "learned":
                start = None
                for j, t in enumerate(seq):
                    if t == self.cfg.audio_start_id:
                        if start is not None:
                            raise PromptError(f"row {row}: audio start at {j} inside an open audio span")
                        start = j
                    elif t == self.cfg.audio_end_id:
                        if start is None:
                            raise PromptError(f"row {row}: audio end at {j} without a start")
                        spans.append(AudioSpan(row, start, j + 1))
                        start = None
                if start is not None:
                    raise PromptError(f"row {row}: audio span opened at {start} is never closed")
            else:
                j = 0
                while j < len(seq):
                    if seq[j] == self.cfg.audio_token_id:
                        k = j
                        while k < len(seq) and seq[k] == self.cfg.audio_token_id:
                            k += 1
                        spans.append(AudioSpan(row, j, k))
                        j = k
                    else:
                        j += 1
        return spans

    def embed_inputs(
        self,
        input_ids: torch.Tensor,
        audio_embeds: list[torch.Tensor] | None = None,
        spans: list[AudioSpan] | None = None,
    ) -> torch.Tensor:
        """Token embeddings [B, S, H] with each audio written over its span."""
        embeds = self.text.embed(input_ids)
        if not audio_embeds:
            return embeds
        spans = self.find_audio_spans(input_ids) if spans is None else spans
        if len(spans) != len(audio_embeds):
            raise PromptError(
                f"the prompt has {len(spans)} audio spans but {len(audio_embeds)} audios were given"
            )
        embeds = embeds.clone()
        for k, (span, e) in enumerate(zip(spans, audio_embeds)):
            if span.end - span.start != e.shape[0]:
                raise PromptError(
                    f"audio {k}: its span holds {span.end - span.start} positions but the audio gives "
                    f"{e.shape[0]} embeddings; size placeholders with auricle.audio.audio_token_count"
                )
            embeds[span.row, span.start : span.end] = e.to(embeds.dtype)
        return embeds

    # ---------------------------------------------------------------------------------- text
    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        positions: torch.Tensor | None = None,
        mel: torch.Tensor | None = None,
        mel_frames: torch.Tensor | None = None,
        cache: KVCache | None = None,
        cache_pos: int = 0,
        ntk_alpha: torch.Tensor | None = None,
        last_only: bool = False,
        encoder_states: tuple[torch.Tensor, torch.Tensor, int, bool] | None = None,
        logit_rows: torch.Tensor | None = None,
        branches: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Logits [B, S, V] (or [B, 1, V] with ``last_only``) for a prefill or a decode step.

        ``logit_rows`` [B, S] bool computes logits only where it is set, as [N, V] in row-major
        order: training needs them at the target positions alone, and the vocabulary projection of
        every audio position would otherwise be a fifth of a small model's step.

        ``attention_mask`` [B, cache_pos + S] marks real tokens (1) and padding (0) over the cache and
        the new tokens; ``positions`` default to ``cumsum(mask) - 1`` (left padding handled).
        ``mel``/``mel_frames`` give the audios of the prompt in row-major span order (prefill only).
        ``encoder_states`` = (states [A, C_max, d], conv lengths [A], start layer, pooled) replaces them
        with encoder states cached after the frozen blocks ``[0, start layer)`` (training on a CPU;
        pooled: the whole encoder's pooled output and its token counts).
        ``branches`` [B, S] packs continuations of one shared prefix into a row (training; see
        :class:`auricle.data.collate.Collator`): pass their ``positions`` too.
        """
        b, s = input_ids.shape
        if attention_mask is None:
            attention_mask = torch.ones(b, cache_pos + s, dtype=torch.long, device=input_ids.device)
        key_valid = attention_mask.bool()
        if positions is None:
            positions = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)[:, cache_pos:]
        if encoder_states is not None:
            audio = self.encode_audio_from(*encoder_states)
        else:
            audio = self.encode_audio(mel, mel_frames) if mel is not None else None
        embeds = self.embed_inputs(input_ids, audio)
        if ntk_alpha is None and cache_pos == 0:
            ntk_alpha = self.text.ntk_alpha(attention_mask.sum(-1))
        h = self.text(embeds, positions, key_valid, cache, cache_pos, ntk_alpha, branches)
        if last_only:
            h = h[:, -1:]
        elif logit_rows is not None:
            h = h[logit_rows]
        return self.lm_head(h)

    def num_parameters(self) -> int:
        """Total parameter count (tied weights counted once)."""
        return sum(p.numel() for p in {id(p): p for p in self.parameters()}.values())
