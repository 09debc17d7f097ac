"""Spoken-language identification: which language tag the model would write first.

Qwen-Audio (tags): the prompt is the audio and ``<|startoftranscript|>``; the model's next token
is the language tag. The probabilities are a softmax over the logits of the eight language-tag ids
only (``en zh de es ko fr ja it``), taken in one forward pass. Qwen2-Audio has no language tags:
the prompt is its ASR instruction and each language's score is the log-probability of the text
continuation `` <|xx|>`` (its prompts' language marker), softmaxed over the candidates.
Only the first 30 s of an audio are used.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from auricle.audio import N_SAMPLES
from auricle.tasks.engine import Engine, Request
from auricle.tasks.prompts import build_prompt, resolve_format
from auricle.tasks.results import LanguageDetection
from auricle.tokenizer.specials import LANGUAGES, language_tag


def detect_languages(
    engine: Engine, audios: Sequence[np.ndarray], *, task_format: str = "auto"
) -> list[LanguageDetection]:
    """The spoken language of each audio with a probability per candidate language."""
    audios = [a[:N_SAMPLES] for a in audios]
    fmt = resolve_format(task_format, engine.style)
    prompt = build_prompt("lid", task_format=task_format, style=engine.style)
    if fmt == "tags":
        tok = engine.tokenizer
        ids = torch.tensor([tok.special_id(language_tag(c)) for c in LANGUAGES])
        logprobs = engine.next_token_logprobs([Request(prompt, [a]) for a in audios])
        scores = logprobs[:, ids]
    else:
        conts = [engine.tokenizer.encode_text(f" <|{c}|>") for c in LANGUAGES]
        scores = torch.tensor([engine.score(Request(prompt, [a]), conts) for a in audios])
    probs = torch.softmax(scores.float(), dim=-1)
    out = []
    for row in probs.tolist():
        table = {code: round(p, 6) for code, p in zip(LANGUAGES, row)}
        out.append(LanguageDetection(max(table, key=table.get), table))
    return out
