"""Export to the Hugging Face Qwen2-Audio layout, so transformers and vLLM can serve any AudioLM.

Keys are written in the Hub (transformers 4.x) form — ``audio_tower.*``, ``multi_modal_projector.*``,
``language_model.model.*``, ``language_model.lm_head.weight`` — which transformers 5.x renames on load
and vLLM reads. A Qwen-Audio (v1) model fits this architecture as follows:

* the learned audio bos/eos rows become the embedding rows of ``<audio>``/``</audio>`` (v1 always
  overwrites those positions, so the rows are free), and ``audio_token_index`` is the v1 padding
  token ``[[[AUDIO:modality]]]`` (151851): a prompt ``<audio> PAD×N </audio>`` then reproduces v1;
* the fixed sinusoid table is written as ``embed_positions``.

What the HF architecture cannot express is a property of the inputs or is documented: to reproduce
v1 exactly, pass ``feature_attention_mask`` with ``L // 160`` frames and zero the mel frames from
``2·C`` on (``C = (M − 1)//2 + 1``); v1's dynamic NTK and logn scaling (beyond 2048 tokens) and its
fp32 rotary application are not reproduced.
"""

from __future__ import annotations

from pathlib import Path

import torch

from auricle.checkpoint import configs
from auricle.checkpoint.files import copy_side_files, feature_extractor_config
from auricle.checkpoint.keymap import QWEN2_AUDIO_HUB, rename
from auricle.checkpoint.loader import load_checkpoint
from auricle.checkpoint.save import as_dtype, dtype_name, model_state, write_json
from auricle.checkpoint.writer import write_shards
from auricle.errors import CheckpointError
from auricle.model.audiolm import AudioLM


def hf_state(model: AudioLM, audio_token_id: int) -> tuple[dict[str, torch.Tensor], bool]:
    """The model's tensors under Qwen2-Audio Hub names, and whether the LM head stays tied."""
    cfg = model.cfg
    if cfg.encoder.tap_layers:
        raise CheckpointError(
            f"this model's projector reads encoder taps (encoder.tap_layers {cfg.encoder.tap_layers}), "
            "which the Qwen2-Audio architecture cannot express; keep it in auricle's own layout"
        )
    if cfg.encoder.stack != 1:
        raise CheckpointError(
            f"this model stacks {cfg.encoder.stack} pooled encoder states into each audio token "
            "(encoder.stack), which the Qwen2-Audio architecture cannot express; keep it in auricle's own layout"
        )
    state = model_state(model)
    state["encoder.positions"] = model.encoder.positions.detach()  # a buffer in v1, a parameter in v2
    tied = cfg.text.tie_embeddings
    learned = cfg.audio_boundary == "learned"
    for tid in (cfg.audio_start_id, cfg.audio_end_id, audio_token_id) if learned else (audio_token_id,):
        if not 0 <= tid < cfg.text.vocab_size:
            raise CheckpointError(
                f"audio token id {tid} is outside the vocabulary (size {cfg.text.vocab_size}); pass "
                "audio_token_id (CLI: --audio-token-id) with the id of the model's audio padding token"
            )
    if learned:
        if audio_token_id in (cfg.audio_start_id, cfg.audio_end_id):
            raise CheckpointError(f"audio_token_id {audio_token_id} must differ from the audio start/end ids")
        bos_eos = state.pop("audio_bos_eos.weight")
        embed = state["text.embed.weight"].clone()
        embed[cfg.audio_start_id] = bos_eos[0].to(embed.dtype)
        embed[cfg.audio_end_id] = bos_eos[1].to(embed.dtype)
        if tied:  # the head must keep the original rows: store it separately
            state["lm_head.weight"] = state["text.embed.weight"]
            tied = False
        state["text.embed.weight"] = embed
    mapping = rename(state, QWEN2_AUDIO_HUB, reverse=True)
    unmapped = [k for k in state if k not in mapping]
    if unmapped:
        raise CheckpointError(f"internal: no Qwen2-Audio name for {unmapped}")
    return {mapping[k]: v for k, v in state.items()}, tied


def export_hf_qwen2_audio(
    model: AudioLM | str | Path,
    out_dir: str | Path,
    *,
    dtype: str | torch.dtype | None = None,
    audio_token_id: int | None = None,
    shard_size: int | str = "5GB",
    tokenizer_folder: str | Path | None = None,
    progress: bool | None = None,
) -> Path:
    """Write ``model`` (an AudioLM or a checkpoint folder of any layout) as a HF Qwen2-Audio folder.

    ``audio_token_id``: the id whose positions receive audio frames; default: the model's own
    ``<|AUDIO|>`` for token-boundary models, the v1 padding token 151851 for learned-boundary ones.
    Tokenizer/generation files come from ``tokenizer_folder`` (default: the source folder); a
    ``generation_config.json`` and a ``preprocessor_config.json`` are written when none is there.
    """
    out = Path(out_dir)
    if not isinstance(model, AudioLM):
        src = Path(model)
        if out.exists() and src.resolve() == out.resolve():
            raise CheckpointError(f"export into the source folder {src} is not allowed; choose a new folder")
        tokenizer_folder = tokenizer_folder if tokenizer_folder is not None else src
        model = load_checkpoint(src, dtype="checkpoint", progress=progress).model
    cfg = model.cfg
    if audio_token_id is None:
        audio_token_id = configs.V1_AUDIO_PAD_ID if cfg.audio_boundary == "learned" else cfg.audio_token_id
    target = as_dtype(dtype)
    state, tied = hf_state(model, audio_token_id)
    out.mkdir(parents=True, exist_ok=True)
    write_shards(state, out, shard_size=shard_size, dtype=target, progress=progress)
    config = configs.to_qwen2_audio(
        configs.replace_text(cfg, tie_embeddings=tied), audio_token_id, dtype_name(state, target)
    )
    write_json(out / "config.json", config)
    if tokenizer_folder is not None:
        copy_side_files(Path(tokenizer_folder), out)
    if not (out / "generation_config.json").exists():
        eos = cfg.eos_token_ids[0] if len(cfg.eos_token_ids) == 1 else cfg.eos_token_ids
        write_json(out / "generation_config.json", {"eos_token_id": eos, "pad_token_id": cfg.pad_token_id})
    if not (out / "preprocessor_config.json").exists():
        write_json(
            out / "preprocessor_config.json",
            feature_extractor_config(cfg.encoder.n_mels, "Qwen2AudioProcessor", True),
        )
    return out
