"""Writing any Whisper checkpoint as a transformers Whisper folder (config, weights, tokenizer).

The result loads with ``WhisperForConditionalGeneration.from_pretrained`` and transcribes with its
``generate``: the generation config (language and task ids, suppressed tokens) is derived from the
tokenizer's special tokens when a ``tokenizer.json`` is beside the weights (faster-whisper and
transformers folders), or from the vocabulary size alone (openai ``.pt``, no language table).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from auricle.checkpoint.files import copy_side_files, feature_extractor_config, read_json
from auricle.checkpoint.whisper import read_whisper
from auricle.checkpoint.writer import write_shards

# Special tokens that follow <|startoftranscript|> and the language tokens, in vocabulary order.
_AFTER_LANGUAGES = ("translate", "transcribe", "startoflm", "startofprev", "nocaptions", "notimestamps")


def whisper_specials(n_vocab: int, tokenizer_json: Path | None) -> dict[str, Any]:
    """Ids of Whisper's special tokens: from ``tokenizer.json`` if given, else from the vocabulary size.

    Returns ``eot``, ``sot``, the ids of :data:`_AFTER_LANGUAGES` and ``lang_to_id`` (empty without
    a tokenizer). Multilingual vocabularies (≥ 51865) start the specials at 50257, English-only at 50256.
    """
    if tokenizer_json is not None and tokenizer_json.is_file():
        added = {t["content"]: t["id"] for t in read_json(tokenizer_json).get("added_tokens", [])}
        out = {"eot": added["<|endoftext|>"], "sot": added["<|startoftranscript|>"]}
        for name in _AFTER_LANGUAGES:
            key = "<|nospeech|>" if name == "nocaptions" and "<|nocaptions|>" not in added else f"<|{name}|>"
            out[name] = added[key]
        out["lang_to_id"] = {tok: i for tok, i in added.items() if out["sot"] < i < out["translate"]}
        return out
    multilingual = n_vocab >= 51865
    eot = 50257 if multilingual else 50256
    n_languages = n_vocab - 51765 - int(multilingual)
    out = {"eot": eot, "sot": eot + 1, "lang_to_id": {}}
    for j, name in enumerate(_AFTER_LANGUAGES):
        out[name] = eot + 2 + n_languages + j
    return out


def _config(dims: dict[str, int], ffn: tuple[int, int], sp: dict[str, Any], extra: dict, dtype: str) -> dict:
    return {
        "architectures": ["WhisperForConditionalGeneration"],
        "model_type": "whisper",
        "num_mel_bins": dims["n_mels"],
        "d_model": dims["n_audio_state"],
        "encoder_layers": dims["n_audio_layer"],
        "encoder_attention_heads": dims["n_audio_head"],
        "encoder_ffn_dim": ffn[0],
        "decoder_layers": dims["n_text_layer"],
        "decoder_attention_heads": dims["n_text_head"],
        "decoder_ffn_dim": ffn[1],
        "max_source_positions": dims["n_audio_ctx"],
        "max_target_positions": dims["n_text_ctx"],
        "vocab_size": dims["n_vocab"],
        "activation_function": "gelu",
        "scale_embedding": False,
        "tie_word_embeddings": True,
        "is_encoder_decoder": True,
        "use_cache": True,
        "bos_token_id": sp["eot"],
        "eos_token_id": sp["eot"],
        "pad_token_id": sp["eot"],
        "decoder_start_token_id": sp["sot"],
        "begin_suppress_tokens": extra.get("suppress_ids_begin", [220, sp["eot"]]),
        "suppress_tokens": extra.get("suppress_ids", []),
        "dtype": dtype,
    }


def _generation_config(dims: dict[str, int], sp: dict[str, Any], extra: dict) -> dict:
    gen = {
        "bos_token_id": sp["eot"],
        "eos_token_id": sp["eot"],
        "pad_token_id": sp["eot"],
        "decoder_start_token_id": sp["sot"],
        "begin_suppress_tokens": extra.get("suppress_ids_begin", [220, sp["eot"]]),
        "suppress_tokens": extra.get("suppress_ids", []),
        "is_multilingual": dims["n_vocab"] >= 51865,
        "task_to_id": {"transcribe": sp["transcribe"], "translate": sp["translate"]},
        "no_timestamps_token_id": sp["notimestamps"],
        "prev_sot_token_id": sp["startofprev"],
        "max_initial_timestamp_index": 50,
        "max_length": dims["n_text_ctx"],
        "return_timestamps": False,
    }
    if sp["lang_to_id"]:
        gen["lang_to_id"] = sp["lang_to_id"]
    if "alignment_heads" in extra:
        gen["alignment_heads"] = extra["alignment_heads"]
    return gen


def _tokenizer_config() -> dict:
    special = "<|endoftext|>"
    return {
        "tokenizer_class": "WhisperTokenizer",
        "bos_token": special,
        "eos_token": special,
        "pad_token": special,
        "unk_token": special,
        "add_prefix_space": False,
        "errors": "replace",
        "model_max_length": 1024,
        "processor_class": "WhisperProcessor",
    }


def whisper_to_hf(path: str | Path, out_dir: str | Path, *, dtype: torch.dtype | None = None) -> Path:
    """Write the Whisper checkpoint at ``path`` (any layout) as a transformers Whisper folder.

    ``dtype``: cast the weights (default: keep the stored dtype). Returns ``out_dir``.
    """
    w = read_whisper(path, with_decoder=True)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    src = w.path if w.path.is_dir() else w.path.parent
    extra = (
        read_json(src / "config.json")
        if w.layout == "ctranslate2" and (src / "config.json").is_file()
        else {}
    )
    sp = whisper_specials(w.dims["n_vocab"], src / "tokenizer.json" if w.layout != "openai" else None)
    state = w.full_state_hf or {}
    ffn = (
        state["model.encoder.layers.0.fc1.weight"].shape[0],
        state["model.decoder.layers.0.fc1.weight"].shape[0],
    )
    stored = next(iter(state.values())).dtype
    dtype_name = str(dtype or stored).removeprefix("torch.")
    write_shards(state, out, shard_size="5GB", dtype=dtype)
    generated = {
        "config.json": _config(w.dims, ffn, sp, extra, dtype_name),
        "generation_config.json": _generation_config(w.dims, sp, extra),
        "preprocessor_config.json": feature_extractor_config(w.dims["n_mels"], "WhisperProcessor", False),
    }
    if (src / "tokenizer.json").is_file():
        generated["tokenizer_config.json"] = _tokenizer_config()
    keep_source = w.layout == "hf"  # a transformers folder's own files describe it best
    if keep_source:
        generated["config.json"] = {**read_json(src / "config.json"), "dtype": dtype_name}
    for name, content in generated.items():
        if name == "config.json" or not (keep_source and (src / name).is_file()):
            (out / name).write_text(json.dumps(content, indent=2))
    copy_side_files(src, out, skip=() if keep_source else tuple(generated))
    return out
