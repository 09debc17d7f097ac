"""Training recipes as typed dataclasses, read from YAML and overridden with ``key=value`` pairs.

A recipe file sets fields of :class:`Recipe`; every field has a default, so a file only states what
it changes. Overrides use dotted paths (``optim.lr=3e-4``, ``data.train=[a.jsonl,b.jsonl]``,
``model.overrides.text.n_layers=4``); values are parsed as YAML and then checked against the field's
type. Unknown keys are errors that list the valid ones. The model architecture itself comes from a
named preset in :mod:`auricle.model.config` (``model.preset``), optionally with field overrides.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from auricle.errors import ConfigError

# Parameter-name regexes (re.fullmatch over auricle's names) for the usual freezing setups.
AUDIO_PARTS = [r"encoder\..*", r"projector\..*", r"audio_bos_eos\..*"]
LLM_PARTS = [r"text\..*", r"lm_head\..*"]
#: LoRA targets of the LLM: every attention and MLP projection of every decoder layer.
LLM_LINEAR_MODULES = r"text\.layers\.\d+\.(attn\.(q|k|v|o)|mlp\.(gate|up|down))"


@dataclass
class ModelSection:
    """Which model to train and where its weights and tokenizer come from."""

    preset: str = (
        "tiny-qwen-audio"  # architecture preset (auricle.model.config.PRESETS); ignored with checkpoint
    )
    overrides: dict[str, Any] = field(
        default_factory=dict
    )  # preset field overrides, e.g. {text: {n_layers: 4}}
    checkpoint: str | None = None  # start from a whole model (official v1/v2 layout or auricle's own folder)
    restack: int = 0  # > 0: change the checkpoint's encoder.stack to this (auricle.model.restack; 0 keeps it)
    whisper: str | None = (
        None  # or from parts: a Whisper checkpoint (path, or packaged name "base"/"tiny.en")
    )
    llm: str | None = None  # ... and a text-only Qwen/Qwen2 folder (none: a fresh LLM from the preset)
    tokenizer: str | None = None  # tokenizer folder; defaults to the checkpoint folder
    tokenizer_vocab: int = 0  # > 0 and no tokenizer folder yet: train a BPE of this size on data.train
    match_tokenizer: bool = True  # new LLM: take vocab size and audio/eos/pad ids from the tokenizer


@dataclass
class AugmentSection:
    """Seeded on-the-fly audio augmentation (each one off when its range is empty)."""

    prob: float = 0.5  # probability that each configured augmentation is applied to an audio
    noise_snr_db: list[float] = field(default_factory=list)  # [low, high]: add white noise at this SNR
    speed: list[float] = field(default_factory=list)  # [low, high]: resample-based speed factor
    gain_db: list[float] = field(default_factory=list)  # [low, high]: scale the waveform


@dataclass
class DataSection:
    """Manifests, the task mixture and dynamic batching."""

    train: list[str] = field(default_factory=list)  # JSONL manifests (auricle.data.manifest)
    valid: list[str] = field(default_factory=list)
    tasks: list[str] = field(default_factory=list)  # keep only these tasks (empty: all)
    mixture: dict[str, float] = field(default_factory=dict)  # task -> sampling weight; empty: natural mix
    epoch_size: int = 0  # examples drawn per epoch under a mixture (0: the number of examples)
    batch_tokens: int = 4096  # padded tokens (audio + text) per micro-batch, summed over all ranks
    max_batch_size: int = 64  # examples per micro-batch, summed over all ranks
    max_tokens: int = 2048  # longer examples are skipped (counted in the log)
    sort_window: int = 512  # examples shuffled together, then sorted by length to form batches
    pack_audio: bool = False  # training: the examples of one audio share a row, the audio computed once
    max_pack: int = 8  # most examples in one packed row
    num_workers: int = 2  # DataLoader worker processes (features are computed there)
    prefetch_factor: int = 2
    itn: bool = False  # ASR targets with inverse text normalisation (<|itn|>, field text_itn)
    augment: AugmentSection = field(default_factory=AugmentSection)


@dataclass
class OptimSection:
    """AdamW with linear warmup and cosine decay to ``min_lr_ratio · lr``."""

    lr: float = 1e-4
    min_lr_ratio: float = 0.1
    warmup_steps: int = 100
    weight_decay: float = 0.01  # not applied to biases, norms and embeddings-like 1-D tensors
    betas: list[float] = field(default_factory=lambda: [0.9, 0.95])
    eps: float = 1e-8
    grad_clip: float = 1.0  # max global gradient norm (0: off)
    schedule_steps: int = (
        0  # length of the LR schedule (0: train.max_steps); larger to stop early, resume later
    )


@dataclass
class TrainSection:
    """The loop: length, precision, memory and what is trained."""

    seed: int = 1234
    max_steps: int = 1000  # optimizer steps
    grad_accum: int = 1  # micro-batches per optimizer step
    precision: Literal["auto", "bf16", "fp32"] = "auto"  # auto: bf16 on CUDA, fp32 on CPU
    device: str = "auto"  # auto: cuda when available, else cpu
    activation_checkpointing: bool = False
    compile: bool = False  # torch.compile each encoder block and decoder layer
    cached_encoder_layers: int = (
        0  # > 0: freeze the encoder front end and this many blocks, cache their output
    )
    encoder_cache: str = ""  # cache folder ("": OUT_DIR/encoder_cache); reused when its fingerprint matches
    # precision of the frozen blocks while the cache is built: bf16 autocast is ≈ 3× faster on a CPU
    # with AMX, its states ≈ 4% off the fp32 ones (docs/training.md); part of the cache's fingerprint
    encoder_cache_precision: Literal["fp32", "bf16"] = "fp32"
    # with the whole encoder cached: store its output after the average pool (half the positions:
    # half the disk and reads); part of the fingerprint
    encoder_cache_pooled: bool = False
    # ε of label smoothing in the training loss (0: plain cross-entropy); validation stays unsmoothed
    label_smoothing: float = 0.0
    # > 0: keep an exponential moving average of the trained weights (decay per step, from step
    # `ema_start` on) and export it as the model; the last step's weights go to OUT_DIR/model-raw
    ema_decay: float = 0.0
    ema_start: int = 0
    trainable: list[str] = field(default_factory=lambda: list(AUDIO_PARTS))  # regexes of trained parameters
    frozen: list[str] = field(default_factory=list)  # regexes frozen even if `trainable` matches


@dataclass
class LoraSection:
    """LoRA adapters (peft) on the modules whose names fully match ``target_modules``."""

    enabled: bool = False
    r: int = 8
    alpha: float = 16.0
    dropout: float = 0.05
    target_modules: str = LLM_LINEAR_MODULES
    merge_on_save: bool = True  # the exported model folder holds merged weights (adapter saved beside)


@dataclass
class CtcSection:
    """Optional auxiliary CTC loss on the audio frames (off unless ``weight > 0``)."""

    weight: float = 0.0  # total loss = LM loss + weight · CTC loss
    input: Literal["encoder", "projector"] = "encoder"  # encoder output, or the LLM's audio embeddings
    vocab: Literal["bytes", "tokens"] = "bytes"  # CTC targets: UTF-8 bytes or tokenizer ids of the text
    tasks: list[str] = field(default_factory=lambda: ["asr"])  # examples whose `text` is a transcript


@dataclass
class LogSection:
    """Where outputs go and how often to log, validate and save."""

    out_dir: str = "runs/default"
    log_every: int = 10
    eval_every: int = 200  # 0: no periodic validation
    eval_batches: int = 20  # validation micro-batches per evaluation (0: the whole set)
    decode_examples: int = 4  # valid examples greedily decoded for WER/accuracy (0: off)
    max_new_tokens: int = 64
    save_every: int = 500  # resumable checkpoint interval in steps (0: only at the end)
    keep_last: int = 2  # resumable checkpoints kept
    tensorboard: bool = True
    progress: bool = True  # tqdm bar on rank 0


@dataclass
class DistSection:
    """Multi-process training: launched by torchrun, the model is always sharded with FSDP2."""

    reshard_after_forward: bool = True  # free gathered weights after each block's forward (less memory)
    timeout_s: int = 1800  # collective timeout of the process group


@dataclass
class Recipe:
    """A whole training recipe (see auricle/train/recipes/*.yaml and docs/training.md)."""

    name: str = "default"
    model: ModelSection = field(default_factory=ModelSection)
    data: DataSection = field(default_factory=DataSection)
    optim: OptimSection = field(default_factory=OptimSection)
    train: TrainSection = field(default_factory=TrainSection)
    lora: LoraSection = field(default_factory=LoraSection)
    ctc: CtcSection = field(default_factory=CtcSection)
    log: LogSection = field(default_factory=LogSection)
    dist: DistSection = field(default_factory=DistSection)

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (as saved beside checkpoints in ``recipe.yaml``)."""
        return dataclasses.asdict(self)


RECIPES_DIR = Path(__file__).resolve().parent / "recipes"


def available_recipes() -> list[str]:
    """Names of the recipes shipped in ``auricle/train/recipes``."""
    return sorted(p.stem for p in RECIPES_DIR.glob("*.yaml"))


def resolve_recipe_path(name_or_path: str | Path) -> Path:
    """A YAML path as given, or the shipped recipe of that name (``tiny-test`` → recipes/tiny-test.yaml)."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    shipped = RECIPES_DIR / f"{name_or_path}.yaml"
    if shipped.is_file():
        return shipped
    raise ConfigError(
        f"recipe {str(name_or_path)!r} is neither a file nor a shipped recipe; "
        f"shipped recipes: {available_recipes()}"
    )


def load_recipe(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> Recipe:
    """Read a recipe YAML (or start from defaults with ``None``), then apply ``key=value`` overrides."""
    data: dict[str, Any] = {}
    if path is not None:
        path = resolve_recipe_path(path)
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as e:
            raise ConfigError(f"{path}: not valid YAML: {e}") from e
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"{path}: a recipe is a mapping of sections, got {type(loaded).__name__}")
        data = loaded or {}
    for item in overrides:
        apply_override(data, item)
    return from_dict(Recipe, data, "recipe")


def apply_override(data: dict[str, Any], item: str) -> None:
    """Set ``data[a][b][c] = value`` for ``"a.b.c=value"`` (value parsed as YAML), in place."""
    key, sep, raw = item.partition("=")
    if not sep or not key or any(not part for part in key.split(".")):
        raise ConfigError(f"override {item!r} is not of the form dotted.key=value (e.g. optim.lr=3e-4)")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as e:
        raise ConfigError(f"override {item!r}: the value is not valid YAML: {e}") from e
    *parents, last = key.split(".")
    node = data
    for part in parents:
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            raise ConfigError(f"override {item!r}: {part!r} holds a value, not a section")
        node = child
    node[last] = value


def from_dict(cls: type, data: Any, where: str) -> Any:
    """Build dataclass ``cls`` from nested dicts, checking every key and value type."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping of fields, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; valid keys: {names}")
    kwargs = {k: _coerce(v, hints[k], f"{where}.{k}") for k, v in data.items()}
    return cls(**kwargs)


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """``value`` converted to type ``tp`` where that is lossless, else a ConfigError naming ``where``."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, where)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(value, arg, where)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError("; ".join(errors))
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{where} = {value!r} is not valid; choose one of {list(args)}")
        return value
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        return [_coerce(v, args[0], f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return {str(k): _coerce(v, args[1], f"{where}.{k}") for k, v in value.items()}
    if tp is Any:
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        try:
            return float(value)  # YAML reads 3e-4 (no dot) as a string
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: expected a number, got {value!r}") from None
    if tp is str:
        if isinstance(value, (dict, list)) or value is None:
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return str(value)
    raise ConfigError(f"{where}: unsupported field type {tp!r}")  # a bug in this module, not user input


def dump_recipe(recipe: Recipe, path: str | Path) -> None:
    """Write the full resolved recipe as YAML (every field, defaults included)."""
    Path(path).write_text(yaml.safe_dump(recipe.to_dict(), sort_keys=False), encoding="utf-8")
