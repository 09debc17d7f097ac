"""The one place where tasks meet the model: prompts + audios in, generated ids or scores out.

A :class:`Request` is a prompt (typed segments from ``auricle.prompt``) and the audios its
``Audio(i)`` segments point to. :class:`ModelEngine` turns requests into features and token ids,
batches them (``batch_size`` rows at a time, sorted by length to keep padding small) and runs
``auricle.generate``. It also scores continuations (teacher forcing), which is how classification
and language detection get probabilities.

Tasks depend only on the small :class:`Engine` protocol, so a test can replace the model by a
scripted double and still exercise every parser, merger and tool for real.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from auricle.audio.features import audio_token_count, log_mel
from auricle.errors import AudioError
from auricle.generate import GenerationConfig, GenerationResult, StreamEvent, generate, stream_batch
from auricle.generate.utf8 import Utf8Rules
from auricle.model.audiolm import AudioLM
from auricle.prompt.encode import EncodedPrompt, encode_prompt
from auricle.prompt.segments import PromptStyle, Rendered, Segment
from auricle.tokenizer.base import Tokenizer

#: Shortest audio the encoder turns into at least one embedding (30 ms at 16 kHz).
MIN_SAMPLES = 480


@dataclass(frozen=True)
class Request:
    """A prompt and its audios (mono float32 at 16 kHz, each at most 30 s)."""

    prompt: Sequence[Segment] | Rendered
    audios: Sequence[np.ndarray] = ()


def output_ids(result: GenerationResult) -> list[int]:
    """The generated ids without the stop token that ended them (if a token did)."""
    ids = list(result.token_ids)
    if isinstance(result.stop, int) and ids and ids[-1] == result.stop:
        ids.pop()
    return ids


class Engine(Protocol):
    """What tasks need from a model. :class:`ModelEngine` is the real one."""

    tokenizer: Tokenizer
    style: PromptStyle
    family: str  # the checkpoint family (ModelConfig.family): "qwen-audio", "qwen2-audio" or "auricle"
    audio_stack: int  # pooled encoder states per audio token (encoder.stack; 1 for both official families)

    def generate(self, requests: Sequence[Request], config: GenerationConfig) -> list[GenerationResult]:
        """One result per request, in order."""

    def stream(self, request: Request, config: GenerationConfig) -> Iterator[StreamEvent]:
        """Events of one generation: text deltas that concatenate to the final text; the last event
        carries the :class:`GenerationResult`."""

    @torch.inference_mode()
    def score(self, request: Request, continuations: Sequence[Sequence[int]]) -> list[float]:
        """Sum of token log-probabilities of each continuation after the prompt."""

    def token_logprobs(self, request: Request, continuation: Sequence[int]) -> list[float]:
        """Log-probability of each token of one continuation after the prompt."""

    @torch.inference_mode()
    def next_token_logprobs(self, requests: Sequence[Request]) -> torch.Tensor:
        """Log-probabilities [B, vocab] of the token after each prompt."""


class ModelEngine:
    """Runs an :class:`AudioLM` with its tokenizer: batching, features, prompts, generation, scoring."""

    def __init__(
        self, model: AudioLM, tokenizer: Tokenizer, *, batch_size: int = 8, beam_size: int = 1
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if beam_size < 1:
            raise ValueError(f"beam_size must be >= 1, got {beam_size}")
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.style: PromptStyle = model.cfg.prompt_style
        self.family = model.cfg.family
        self.batch_size = batch_size
        self.beam_size = beam_size  # beam search for every deterministic (non-sampled) generation
        self._rule = model.cfg.encoder.length_rule
        self.audio_stack = model.cfg.encoder.stack
        self._n_mels = model.cfg.encoder.n_mels

    @property
    def device(self) -> torch.device:
        """Where the model's weights are."""
        return self.model.lm_head.weight.device

    # ------------------------------------------------------------------------------ preparation
    def _encode(self, request: Request) -> tuple[EncodedPrompt, list[np.ndarray]]:
        """Token ids of the prompt and the audios in placeholder order."""
        counts = []
        for k, audio in enumerate(request.audios):
            if len(audio) < MIN_SAMPLES:
                raise AudioError(
                    f"audio {k} has {len(audio)} samples ({len(audio) / 16000:.3f} s); the encoder needs at "
                    f"least {MIN_SAMPLES} samples (0.03 s) to produce one embedding"
                )
            counts.append(int(audio_token_count(len(audio), self._rule, self.audio_stack).audio_tokens))
        enc = encode_prompt(request.prompt, self.tokenizer, counts, self.style)
        return enc, [request.audios[i] for i in enc.audio_indices]

    def _features(self, audios: list[np.ndarray]) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        if not audios:
            return None, None
        batch = log_mel(audios, self._n_mels, device=self.device)
        frames = audio_token_count(batch.num_samples, self._rule).mel_frames
        return batch.features, frames

    def _batches(self, requests: Sequence[Request]) -> Iterator[list[tuple[int, EncodedPrompt, list]]]:
        encoded = [(i, *self._encode(r)) for i, r in enumerate(requests)]
        encoded.sort(key=lambda item: len(item[1].ids))
        for start in range(0, len(encoded), self.batch_size):
            yield encoded[start : start + self.batch_size]

    def _generation_config(self, config: GenerationConfig, streaming: bool = False) -> GenerationConfig:
        searchable = not (streaming or config.do_sample or config.stop_strings)
        if self.beam_size > 1 and config.num_beams == 1 and searchable:
            config = config.replace(num_beams=self.beam_size)
        if config.vocab_limit is None and len(self.tokenizer) < self.model.cfg.text.vocab_size:
            config = config.replace(vocab_limit=len(self.tokenizer))  # never sample an undecodable id
        if config.utf8_rules is None:
            # answers shown to people never carry U+FFFD from a half-written character
            config = config.replace(utf8_rules=Utf8Rules.for_tokenizer(self.tokenizer))
        return config

    def _decode(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode(ids)

    # ------------------------------------------------------------------------------ generation
    def generate(self, requests: Sequence[Request], config: GenerationConfig) -> list[GenerationResult]:
        """Generate for every request, ``batch_size`` at a time; results in request order."""
        config = self._generation_config(config)
        results: list[GenerationResult | None] = [None] * len(requests)
        for batch in self._batches(requests):
            mel, frames = self._features([a for _, _, audios in batch for a in audios])
            out = generate(
                self.model,
                [enc.ids for _, enc, _ in batch],
                mel=mel,
                mel_frames=frames,
                config=config,
                decode_fn=self._decode,
            )
            for (i, _, _), res in zip(batch, out):
                results[i] = res
        return results  # type: ignore[return-value]

    def stream(self, request: Request, config: GenerationConfig) -> Iterator[StreamEvent]:
        """Events of one generation (special tokens other than the stop token appear in the text)."""
        enc, audios = self._encode(request)
        mel, frames = self._features(audios)
        yield from stream_batch(
            self.model,
            [enc.ids],
            mel=mel,
            mel_frames=frames,
            config=self._generation_config(config, streaming=True),
            decode_fn=self._decode,
        )

    # ------------------------------------------------------------------------------ scoring
    def _hidden(self, rows: list[list[int]], audios: list[np.ndarray]) -> torch.Tensor:
        """Decoder states [B, S, H] of right-padded rows (positions and keys of padding masked)."""
        model = self.model
        lens = [len(r) for r in rows]
        s = max(lens)
        pad = model.cfg.pad_token_id if model.cfg.pad_token_id < model.cfg.text.vocab_size else 0
        ids = torch.tensor([r + [pad] * (s - len(r)) for r in rows], device=self.device)
        mask = torch.tensor([[1] * n + [0] * (s - n) for n in lens], device=self.device)
        mel, frames = self._features(audios)
        audio = model.encode_audio(mel, frames) if mel is not None else None
        embeds = model.embed_inputs(ids, audio)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        alpha = model.text.ntk_alpha(mask.sum(-1))
        return model.text(embeds, positions, mask.bool(), None, 0, alpha)

    def _logprobs(self, hidden: torch.Tensor) -> torch.Tensor:
        logits = self.model.lm_head(hidden).float()[..., : len(self.tokenizer)]
        return torch.log_softmax(logits, dim=-1)

    @torch.inference_mode()
    def score(self, request: Request, continuations: Sequence[Sequence[int]]) -> list[float]:
        """Sum of log-probabilities of each continuation's tokens after the prompt (one batch row each)."""
        return [sum(lps) for lps in self._continuation_logprobs(request, continuations)]

    @torch.inference_mode()
    def token_logprobs(self, request: Request, continuation: Sequence[int]) -> list[float]:
        """Log-probability of each token of ``continuation`` after the prompt (one forward pass)."""
        return self._continuation_logprobs(request, [continuation])[0]

    def _continuation_logprobs(
        self, request: Request, continuations: Sequence[Sequence[int]]
    ) -> list[list[float]]:
        enc, audios = self._encode(request)
        p = len(enc.ids)
        out: list[list[float]] = []
        for start in range(0, len(continuations), self.batch_size):
            chunk = [list(c) for c in continuations[start : start + self.batch_size]]
            hidden = self._hidden([enc.ids + c for c in chunk], audios * len(chunk))
            for row, cont in enumerate(chunk):
                if not cont:
                    out.append([])
                    continue
                lp = self._logprobs(hidden[row, p - 1 : p - 1 + len(cont)])
                picked = lp.gather(-1, torch.tensor(cont, device=lp.device)[:, None])[:, 0]
                out.append(picked.float().cpu().tolist())
        return out

    @torch.inference_mode()
    def next_token_logprobs(self, requests: Sequence[Request]) -> torch.Tensor:
        """Log-probabilities [B, len(tokenizer)] of the token following each prompt."""
        out = torch.empty(len(requests), len(self.tokenizer))
        for batch in self._batches(requests):
            hidden = self._hidden([enc.ids for _, enc, _ in batch], [a for _, _, aud in batch for a in aud])
            for row, (i, enc, _) in enumerate(batch):
                out[i] = self._logprobs(hidden[row, len(enc.ids) - 1]).cpu()
        return out
