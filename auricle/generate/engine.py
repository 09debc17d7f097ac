"""Batched generation: one prefill over left-padded prompts, then one-token decode steps (greedy,
sampled, or a beam search: generate/beam.py).

The KV cache is allocated once for ``batch × (longest prompt + max_new_tokens)``. Each row keeps
its own positions (``cumsum(mask) - 1``) and its padding is masked, so a row's tokens do not depend
on the other rows of the batch. Rows that finish are dropped from the batch (``KVCache.select``)
unless ``drop_finished=False``. Everything the host needs per step (stop checks, text) is read
in one small transfer every ``sync_every`` steps.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator, Sequence

import torch

from auricle.errors import ConfigError, PromptError
from auricle.generate.beam import beam_search
from auricle.generate.config import GenerationConfig, GenerationResult, StreamEvent
from auricle.generate.sampling import apply_repetition_penalty, greedy, sample
from auricle.generate.stopping import DecodeFn, RowText
from auricle.generate.timestamps import TimestampState
from auricle.generate.utf8 import Utf8State
from auricle.model.audiolm import AudioLM
from auricle.model.text import KVCache


def generate(
    model: AudioLM,
    input_ids: Sequence[Sequence[int]],
    *,
    mel: torch.Tensor | None = None,
    mel_frames: torch.Tensor | None = None,
    config: GenerationConfig | None = None,
    decode_fn: DecodeFn | None = None,
) -> list[GenerationResult]:
    """Generate a continuation for each prompt of a batch.

    ``input_ids`` are unpadded prompts (audio placeholders already sized); ``mel`` [A, n_mels, T]
    and ``mel_frames`` [A] hold the batch's audios in row-major placeholder order. ``decode_fn``
    (ids → text) fills :attr:`GenerationResult.text` and is required for stop strings.
    """
    results: list[GenerationResult | None] = [None] * len(input_ids)
    for event in _run(model, input_ids, mel, mel_frames, config or GenerationConfig(), decode_fn, False):
        if event.result is not None:
            results[event.row] = event.result
    return results  # type: ignore[return-value]  # every row ends with a result


def stream(
    model: AudioLM,
    input_ids: Sequence[int],
    *,
    mel: torch.Tensor | None = None,
    mel_frames: torch.Tensor | None = None,
    config: GenerationConfig | None = None,
    decode_fn: DecodeFn,
) -> Iterator[str]:
    """Generate for one prompt, yielding text deltas as they become final.

    A multi-byte character split across tokens, or text that may be the start of a stop string, is
    held back until it is decided; the deltas concatenate to the final text.
    """
    events = stream_batch(
        model, [input_ids], mel=mel, mel_frames=mel_frames, config=config, decode_fn=decode_fn
    )
    return (event.delta for event in events if event.delta)


def stream_batch(
    model: AudioLM,
    input_ids: Sequence[Sequence[int]],
    *,
    mel: torch.Tensor | None = None,
    mel_frames: torch.Tensor | None = None,
    config: GenerationConfig | None = None,
    decode_fn: DecodeFn,
) -> Iterator[StreamEvent]:
    """Generate for a batch, yielding per-row events; each row's last event carries its result."""
    if decode_fn is None:
        raise ConfigError("streaming needs decode_fn (ids -> text), e.g. a tokenizer's decode method")
    return _run(model, input_ids, mel, mel_frames, config or GenerationConfig(), decode_fn, True)


# ------------------------------------------------------------------------------------------ core


class _Rows:
    """Host-side bookkeeping: ids, text and result of every row of the original batch."""

    def __init__(
        self,
        prompts: Sequence[Sequence[int]],
        cfg: GenerationConfig,
        stop_ids: set[int],
        decode_fn: DecodeFn | None,
        texts: bool,
    ) -> None:
        self.cfg = cfg
        self.stop_ids = stop_ids
        self.decode_fn = decode_fn
        self.prompt_lens = [len(p) for p in prompts]
        self.tokens: list[list[int]] = [[] for _ in prompts]
        self.texts: list[RowText] | None = (
            [RowText(decode_fn, cfg.stop_strings) for _ in prompts] if texts else None
        )
        self.results: list[GenerationResult | None] = [None] * len(prompts)

    def consume(self, row: int, new: list[int]) -> list[int]:
        """Take a row's new ids (in order) until it finishes; return the ids it kept."""
        kept = []
        for t in new:
            if self.results[row] is not None:
                break
            toks = self.tokens[row]
            toks.append(t)
            kept.append(t)
            n = len(toks)
            if t in self.stop_ids:
                self._finish(row, "stop", stop=t)
            elif self.texts is not None and self.texts[row].push(t, check_stops=n >= self.cfg.min_new_tokens):
                text = self.texts[row]
                self._finish(row, "stop", stop=_which_stop(text))
            elif n == self.cfg.max_new_tokens:
                self._finish(row, "length")
        return kept

    def _finish(self, row: int, reason: str, stop: int | str | None = None) -> None:
        toks = self.tokens[row]
        text = None
        if self.decode_fn is not None:
            text = self.decode_fn(toks[:-1] if isinstance(stop, int) else toks)
            if isinstance(stop, str):
                text = text[: self.texts[row].stop_at]
        self.results[row] = GenerationResult(
            token_ids=list(toks),
            finish_reason=reason,
            text=text,
            stop=stop,
            prompt_tokens=self.prompt_lens[row],
        )

    def event(self, row: int, kept: list[int]) -> StreamEvent:
        """The stream event for what ``row`` produced in this round."""
        result = self.results[row]
        delta = self.texts[row].take_delta(final=result.text if result else None)
        return StreamEvent(row=row, delta=delta, token_ids=kept, result=result)


def _which_stop(text: RowText) -> str:
    """The stop string found at ``text.stop_at``."""
    return next(s for s in text.stop_strings if text.text.startswith(s, text.stop_at))


def _validate(model: AudioLM, prompts: Sequence[Sequence[int]]) -> None:
    if not prompts:
        raise PromptError("generate() got an empty batch; pass at least one prompt (a list of token ids)")
    vocab = model.cfg.text.vocab_size
    for r, p in enumerate(prompts):
        if len(p) == 0:
            raise PromptError(f"prompt {r} is empty; every prompt needs at least one token id")
        lo, hi = min(p), max(p)
        if lo < 0 or hi >= vocab:
            raise PromptError(f"prompt {r} has token id {lo if lo < 0 else hi}; valid ids are 0..{vocab - 1}")


def _run(
    model: AudioLM,
    prompts: Sequence[Sequence[int]],
    mel: torch.Tensor | None,
    mel_frames: torch.Tensor | None,
    cfg: GenerationConfig,
    decode_fn: DecodeFn | None,
    streaming: bool,
) -> Iterator[StreamEvent]:
    """Check the request now (errors are raised here, not at the first ``next``), then run lazily."""
    _validate(model, prompts)
    if cfg.stop_strings and decode_fn is None:
        raise ConfigError("stop_strings need decode_fn (ids -> text) so the generated text can be checked")
    if streaming and cfg.num_beams > 1:
        raise ConfigError(
            "beam search cannot stream (a beam's text is final only when the search ends); "
            "use generate() or num_beams=1"
        )
    return _in_eval_mode(model, _decode_loop(model, prompts, mel, mel_frames, cfg, decode_fn, streaming))


def _in_eval_mode(model: AudioLM, events: Iterator[StreamEvent]) -> Iterator[StreamEvent]:
    """Run ``events`` with the model in eval mode, restoring its mode afterwards."""
    was_training = model.training
    model.eval()
    try:
        yield from events
    finally:
        model.train(was_training)


_COMPILED: weakref.WeakKeyDictionary[AudioLM, Callable[..., torch.Tensor]] = weakref.WeakKeyDictionary()


def _compiled(model: AudioLM) -> Callable[..., torch.Tensor]:
    """The model compiled for decode steps (dynamic shapes: the cache grows, rows leave), made once."""
    if model not in _COMPILED:
        _COMPILED[model] = torch.compile(model, dynamic=True)
    return _COMPILED[model]


class _Batch:
    """Device state of the running batch: KV cache, key mask, next positions, NTK alpha."""

    def __init__(
        self, model: AudioLM, prompts: Sequence[Sequence[int]], n_new: int, compile_decode: bool = False
    ) -> None:
        mcfg = model.cfg
        self.model = model
        self.decode_model = _compiled(model) if compile_decode else model
        self.device = model.lm_head.weight.device
        lens = [len(p) for p in prompts]
        self.p_max = p_max = max(lens)
        b = len(prompts)
        # padding is never attended; its id only has to be a valid row that is no audio placeholder
        pad = mcfg.pad_token_id if mcfg.pad_token_id < mcfg.text.vocab_size else 0
        self.ids = torch.tensor(
            [[pad] * (p_max - n) + list(p) for p, n in zip(prompts, lens)], device=self.device
        )
        # one mask over the whole cache, built once: generated positions are always real keys
        self.mask = torch.ones(b, p_max + n_new, dtype=torch.bool, device=self.device)
        self.mask[:, :p_max] = torch.tensor(
            [[False] * (p_max - n) + [True] * n for n in lens], device=self.device
        )
        lengths = torch.tensor(lens, device=self.device)
        self.next_pos = lengths[:, None].clone()  # [B, 1] position of the next token fed
        self.ntk_alpha = model.text.ntk_alpha(lengths)  # v1: fixed at prefill, reused at every step
        self.cache = KVCache.allocate(mcfg.text, b, p_max + n_new, model.lm_head.weight.dtype, self.device)

    @property
    def prompt_mask(self) -> torch.Tensor:
        return self.mask[:, : self.p_max]

    def prefill(self, mel: torch.Tensor | None, mel_frames: torch.Tensor | None) -> torch.Tensor:
        """Run the prompts (and their audio) through the model; logits [B, V] of the last position."""
        if mel is not None:
            mel = mel.to(self.device)
            mel_frames = mel_frames.to(self.device) if mel_frames is not None else None
        positions = (self.prompt_mask.long().cumsum(-1) - 1).clamp(min=0)
        logits = self.model(
            self.ids,
            attention_mask=self.prompt_mask,
            positions=positions,
            mel=mel,
            mel_frames=mel_frames,
            cache=self.cache,
            cache_pos=0,
            ntk_alpha=self.ntk_alpha,
            last_only=True,
        )
        return logits[:, -1]

    def step(self, tok: torch.Tensor, step: int) -> torch.Tensor:
        """Feed the ids [B] chosen at ``step``; logits [B, V] for the next one."""
        pos = self.p_max + step
        logits = self.decode_model(
            tok[:, None],
            attention_mask=self.mask[:, : pos + 1],
            positions=self.next_pos,
            cache=self.cache,
            cache_pos=pos,
            ntk_alpha=self.ntk_alpha,
            last_only=True,
        )
        self.next_pos += 1
        return logits[:, -1]

    def select(self, rows: torch.Tensor) -> None:
        """Keep only the given batch rows."""
        self.cache.select(rows)
        self.mask, self.next_pos = self.mask[rows], self.next_pos[rows]
        if self.ntk_alpha is not None:
            self.ntk_alpha = self.ntk_alpha[rows]


@torch.inference_mode()  # on a generator: entered around each step only, not while the caller runs
def _decode_loop(
    model: AudioLM,
    prompts: Sequence[Sequence[int]],
    mel: torch.Tensor | None,
    mel_frames: torch.Tensor | None,
    cfg: GenerationConfig,
    decode_fn: DecodeFn | None,
    streaming: bool,
) -> Iterator[StreamEvent]:
    n_new = cfg.max_new_tokens
    batch = _Batch(model, prompts, n_new, cfg.compile_decode)
    logits = batch.prefill(mel, mel_frames)
    stop_ids = set(model.cfg.eos_token_ids if cfg.stop_token_ids is None else cfg.stop_token_ids)
    chooser = _Chooser(cfg, logits.shape[-1], stop_ids, batch.ids, batch.prompt_mask)
    if cfg.num_beams > 1:
        results = beam_search(batch, chooser, logits, cfg, [len(p) for p in prompts], decode_fn)
        for r, res in enumerate(results):
            yield StreamEvent(row=r, delta="", token_ids=res.token_ids, result=res)
        return
    rows = _Rows(prompts, cfg, stop_ids, decode_fn, texts=streaming or bool(cfg.stop_strings))
    active = list(range(len(prompts)))  # original row of each current batch row
    sync_every = cfg.sync_every or (1 if batch.device.type == "cpu" or streaming else 8)
    pending = torch.empty(len(prompts), sync_every, dtype=torch.long, device=batch.device)
    k = 0  # ids waiting in `pending` for the host
    for step in range(n_new):
        tok = chooser(logits, step)
        pending[:, k] = tok
        k += 1
        last = step == n_new - 1
        if k == sync_every or last:
            chunk = pending[:, :k].tolist()  # the one device -> host transfer
            k = 0
            for i, r in enumerate(active):
                if rows.results[r] is None:
                    kept = rows.consume(r, chunk[i])
                    if streaming:
                        yield rows.event(r, kept)
            keep = [i for i, r in enumerate(active) if rows.results[r] is None]
            if not keep:
                break
            if cfg.drop_finished and len(keep) < len(active):
                keep_t = torch.tensor(keep, device=batch.device)
                batch.select(keep_t)
                chooser.select(keep_t)
                tok, pending = tok[keep_t], pending[keep_t]
                active = [active[i] for i in keep]
        if last:
            break
        logits = batch.step(tok, step)
    if not streaming:
        for r in range(len(prompts)):
            yield StreamEvent(row=r, delta="", token_ids=rows.tokens[r], result=rows.results[r])


class _Chooser:
    """Turns a step's logits [B, V] into the next ids [B]: vocab limit, min_new_tokens, timestamp
    and UTF-8 rules, repetition penalty, then greedy or sampling. Keeps the per-row state (ids seen,
    timestamp phase, UTF-8 state) on the device."""

    def __init__(
        self,
        cfg: GenerationConfig,
        vocab: int,
        stop_ids: set[int],
        prompt_ids: torch.Tensor,
        prompt_mask: torch.Tensor,
    ) -> None:
        self.cfg = cfg
        device = prompt_ids.device
        self.limit = min(vocab, cfg.vocab_limit or vocab)
        stops = sorted(t for t in stop_ids if 0 <= t < self.limit)
        self.stop_t = torch.tensor(stops, dtype=torch.long, device=device)
        self.seen = None
        if cfg.repetition_penalty != 1.0:
            # padding goes to a spare column that is then dropped, so pad ids are not penalised
            seen = torch.zeros(prompt_ids.shape[0], self.limit + 1, dtype=torch.bool, device=device)
            idx = torch.where(prompt_mask & (prompt_ids < self.limit), prompt_ids, self.limit)
            self.seen = seen.scatter_(1, idx, True)[:, : self.limit].contiguous()
        self.timestamps = None
        if cfg.timestamp_rules is not None:
            self.timestamps = TimestampState(
                cfg.timestamp_rules, self.limit, stop_ids, prompt_ids.shape[0], device
            )
        self.utf8 = None
        if cfg.utf8_rules is not None:
            self.utf8 = Utf8State(cfg.utf8_rules, prompt_ids.shape[0], device)
        if self.timestamps is not None or self.utf8 is not None:
            self.is_stop = torch.zeros(self.limit, dtype=torch.bool, device=device)
            self.is_stop[self.stop_t] = True
        self.generator = None
        if cfg.do_sample and cfg.seed is not None:
            self.generator = torch.Generator(device=device).manual_seed(cfg.seed)

    def __call__(self, logits: torch.Tensor, step: int) -> torch.Tensor:
        cfg = self.cfg
        logits = self.constrain(logits, step)
        if cfg.do_sample:
            tok = sample(
                logits,
                temperature=cfg.temperature,
                top_k=cfg.top_k,
                top_p=cfg.top_p,
                generator=self.generator,
            )
        else:
            tok = greedy(logits)
            if cfg.timestamp_window and self.timestamps is not None:
                tok = self.timestamps.refine(logits, tok, cfg.timestamp_window)
        self.advance(tok)
        return tok

    def constrain(self, logits: torch.Tensor, step: int) -> torch.Tensor:
        """The scores [B, V] (logits, or log-probabilities for beam search) with everything this
        step may not produce at -inf: ids past the vocab limit (cut off), stops before
        ``min_new_tokens``, what the timestamp and UTF-8 rules forbid; then the repetition penalty."""
        cfg = self.cfg
        if self.limit < logits.shape[-1]:
            logits = logits[:, : self.limit]
        if step < cfg.min_new_tokens and self.stop_t.numel():
            logits = logits.index_fill(1, self.stop_t, float("-inf"))
        if self.timestamps is not None or self.utf8 is not None:
            logits = logits.masked_fill(~self._allowed(logits.shape[-1]), float("-inf"))
        if self.seen is not None:
            logits = apply_repetition_penalty(logits, self.seen, cfg.repetition_penalty)
        return logits

    def advance(self, tok: torch.Tensor) -> None:
        """Record the ids [B] chosen for every row (ids seen, timestamp phase, UTF-8 state)."""
        if self.seen is not None:
            self.seen.scatter_(1, tok[:, None], True)
        if self.timestamps is not None:
            self.timestamps.update(tok)
        if self.utf8 is not None:
            self.utf8.update(tok)

    def _allowed(self, width: int) -> torch.Tensor:
        """[B, width] bool: what the timestamp and UTF-8 rules allow together; a row they leave
        with no choice (never with a full byte-level vocabulary) may stop, so none is stuck."""
        ok = None
        if self.timestamps is not None:
            ok = self.timestamps.allowed()[:, :width]
        if self.utf8 is not None:
            utf8 = self.utf8.allowed(width)
            ok = utf8 if ok is None else ok & utf8
        stuck = ~ok.any(-1, keepdim=True)
        return ok | (stuck & self.is_stop[None, :width])

    def select(self, rows: torch.Tensor) -> None:
        """Keep only the given batch rows."""
        if self.seen is not None:
            self.seen = self.seen[rows]
        if self.timestamps is not None:
            self.timestamps.select(rows)
        if self.utf8 is not None:
            self.utf8.select(rows)
