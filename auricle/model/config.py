"""Model configuration: dataclasses for the audio encoder, the text decoder and the whole AudioLM,
plus named presets (the official 7B families and tiny ones for tests).

One ``AudioLMConfig`` describes both checkpoint families; the fields that differ are explicit:

============================  ==========================  ============================
field                          qwen-audio (v1)             qwen2-audio (v2)
============================  ==========================  ============================
``encoder.n_mels``             80                          128
``encoder.positions``          ``sinusoid`` (fixed)        ``learned`` (table in ckpt)
``encoder.length_rule``        ``floor`` (L // 160)        ``ceil`` (ceil(L / 160))
``encoder.edge``               ``truncate``                ``pad_frames``
``audio_boundary``             ``learned`` bos/eos rows    ``tokens`` (text tokens)
``text.rope_in_fp32``          True                        False
``text.dynamic_ntk/logn``      True                        False
============================  ==========================  ============================
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from auricle.errors import ConfigError


@dataclass
class EncoderConfig:
    """The Whisper-style audio encoder (conv front end, pre-LN transformer, avg-pool, norm)."""

    n_mels: int = 80
    d_model: int = 1280
    n_heads: int = 20
    n_layers: int = 32
    ffn_dim: int = 5120
    n_ctx: int = 1500  # encoder positions = 30 s of audio after the stride-2 conv
    positions: str = "sinusoid"  # "sinusoid" (v1, fixed buffer) or "learned" (v2, read from ckpt)
    length_rule: str = "floor"  # mel frames counted: "floor" (v1) or "ceil" (v2)
    edge: str = "truncate"  # what conv2 sees past the last frame: "truncate" (v1) / "pad_frames" (v2)
    layer_norm_eps: float = 1e-5
    # auricle's own option (empty in both official families): the states after these many blocks
    # (0 = the conv front end) are pooled, normalised and concatenated to the top block's output,
    # so the projector also sees the lower layers, where pitch and voice survive (docs/architecture.md)
    tap_layers: list[int] = field(default_factory=list)
    # auricle's own option (1 in both official families): this many consecutive pooled, normalised
    # states are concatenated into one audio token, so 2 gives 12.5 tokens a second and a projector
    # twice as wide; fewer decoder positions per clip, no encoder information dropped
    stack: int = 1

    def __post_init__(self) -> None:
        _check_choice("encoder.positions", self.positions, ("sinusoid", "learned"))
        _check_choice("encoder.length_rule", self.length_rule, ("floor", "ceil"))
        _check_choice("encoder.edge", self.edge, ("truncate", "pad_frames"))
        if self.d_model % self.n_heads:
            raise ConfigError(f"encoder.d_model {self.d_model} is not divisible by n_heads {self.n_heads}")
        self.tap_layers = list(self.tap_layers)
        if self.tap_layers != sorted(set(self.tap_layers)) or any(
            not isinstance(t, int) or not 0 <= t < self.n_layers for t in self.tap_layers
        ):
            raise ConfigError(
                f"encoder.tap_layers {self.tap_layers} must be distinct block counts in increasing "
                f"order, each in [0, {self.n_layers}) (the top block's output is always used)"
            )
        if isinstance(self.stack, bool) or not isinstance(self.stack, int) or self.stack < 1:
            raise ConfigError(f"encoder.stack must be a positive integer, got {self.stack!r}")

    @property
    def pooled_dim(self) -> int:
        """Width of the audio tokens the projector reads: d_model per tap plus the top block's, times
        the ``stack`` pooled states each token concatenates."""
        return self.d_model * (1 + len(self.tap_layers)) * self.stack

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads


@dataclass
class TextConfig:
    """The Qwen (v1) / Qwen2 (v2) decoder: RoPE, RMSNorm, SwiGLU, q/k/v bias, grouped-query attention."""

    vocab_size: int = 155947
    hidden_size: int = 4096
    n_layers: int = 32
    n_heads: int = 32
    n_kv_heads: int = 32
    intermediate_size: int = 11008
    rope_theta: float = 10000.0
    rms_norm_eps: float = 1e-5
    max_positions: int = 8192
    rope_in_fp32: bool = True  # v1 applies rotary in fp32; v2 casts cos/sin to the activation dtype
    dynamic_ntk: bool = False  # v1 inference only, beyond `seq_length` tokens
    logn_attn: bool = False  # v1 inference only, beyond `seq_length` tokens
    seq_length: int = 2048  # pivot of dynamic NTK and logn scaling
    tie_embeddings: bool = False

    def __post_init__(self) -> None:
        if self.hidden_size % self.n_heads:
            raise ConfigError(f"text.hidden_size {self.hidden_size} not divisible by n_heads {self.n_heads}")
        if self.n_heads % self.n_kv_heads:
            raise ConfigError(f"text.n_heads {self.n_heads} not divisible by n_kv_heads {self.n_kv_heads}")

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.n_heads


@dataclass
class AudioLMConfig:
    """A whole audio-language model: encoder + projector + decoder, and how audio enters the text."""

    family: str = "qwen-audio"  # "qwen-audio" (v1), "qwen2-audio" (v2) or "auricle" (our own small models)
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    text: TextConfig = field(default_factory=TextConfig)
    audio_boundary: str = "learned"  # "learned": bos/eos rows written over the span ends (v1); "tokens" (v2)
    prompt_style: str = "qwen-audio"  # how prompts are rendered: "qwen-audio" (tags/<audio>) or "qwen2-audio"
    audio_start_id: int = 155163  # v1 `<audio>`; the span ends at the next `</audio>` (= start + 1)
    audio_end_id: int = 155164
    audio_token_id: int = 151646  # v2 `<|AUDIO|>`: one position per audio frame
    eos_token_ids: list[int] = field(default_factory=lambda: [151643])
    pad_token_id: int = 151643

    def __post_init__(self) -> None:
        _check_choice("family", self.family, ("qwen-audio", "qwen2-audio", "auricle"))
        _check_choice("audio_boundary", self.audio_boundary, ("learned", "tokens"))
        _check_choice("prompt_style", self.prompt_style, ("qwen-audio", "qwen2-audio"))
        if isinstance(self.encoder, dict):
            self.encoder = EncoderConfig(**self.encoder)
        if isinstance(self.text, dict):
            self.text = TextConfig(**self.text)

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form, as written to ``config.json`` in auricle's own checkpoint layout."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AudioLMConfig:
        """Inverse of :meth:`to_dict`; unknown keys are a :class:`ConfigError`."""
        d = dict(d)
        d["encoder"] = _build(EncoderConfig, d.get("encoder", {}), "encoder")
        d["text"] = _build(TextConfig, d.get("text", {}), "text")
        return _build(cls, d, "config")

    def replace(self, **changes: Any) -> AudioLMConfig:
        """A copy with some top-level fields changed."""
        return dataclasses.replace(self, **changes)


def _check_choice(name: str, value: str, valid: tuple[str, ...]) -> None:
    if value not in valid:
        raise ConfigError(f"{name} = {value!r} is not valid; choose one of {list(valid)}")


def _build(cls: type, d: dict[str, Any], where: str) -> Any:
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - known)
    if unknown:
        raise ConfigError(f"{where}: unknown fields {unknown}; known fields: {sorted(known)}")
    return cls(**d)


# --------------------------------------------------------------------------------------------------
# Presets


def _qwen_audio_7b() -> AudioLMConfig:
    return AudioLMConfig(
        family="qwen-audio",
        encoder=EncoderConfig(),
        text=TextConfig(dynamic_ntk=True, logn_attn=True),
    )


def _qwen2_audio_7b() -> AudioLMConfig:
    return AudioLMConfig(
        family="qwen2-audio",
        encoder=EncoderConfig(n_mels=128, positions="learned", length_rule="ceil", edge="pad_frames"),
        text=TextConfig(vocab_size=156032, rope_in_fp32=False),
        audio_boundary="tokens",
        prompt_style="qwen2-audio",
        eos_token_ids=[151645, 151643],
    )


def _tiny(base: AudioLMConfig, *, n_kv_heads: int = 2) -> AudioLMConfig:
    """A few-layer model of the same family, for CPU tests (vocab kept so real ids stay valid)."""
    enc = dataclasses.replace(base.encoder, d_model=64, n_heads=4, n_layers=2, ffn_dim=128)
    text = dataclasses.replace(
        base.text, hidden_size=64, n_layers=2, n_heads=4, n_kv_heads=n_kv_heads, intermediate_size=128
    )
    return dataclasses.replace(base, encoder=enc, text=text)


def _auricle_small() -> AudioLMConfig:
    """auricle's shipped model: Whisper-base's encoder and a small Qwen2-style decoder.

    The vocabulary (a BPE trained on the corpus plus every Qwen-Audio special) and the audio / eos
    ids are set from the tokenizer when the model is built; the numbers here are the defaults.
    """
    return AudioLMConfig(
        family="auricle",
        encoder=EncoderConfig(n_mels=80, d_model=512, n_heads=8, n_layers=6, ffn_dim=2048),
        text=TextConfig(
            vocab_size=4522,
            hidden_size=384,
            n_layers=4,
            n_heads=6,
            n_kv_heads=2,
            intermediate_size=1024,
            rms_norm_eps=1e-6,
            max_positions=4096,
            rope_in_fp32=False,
            tie_embeddings=True,
        ),
        audio_start_id=4520,
        audio_end_id=4521,
        eos_token_ids=[1000],
        pad_token_id=1000,
    )


PRESETS = {
    "qwen-audio-7b": _qwen_audio_7b,
    "qwen-audio-chat-7b": _qwen_audio_7b,
    "qwen2-audio-7b": _qwen2_audio_7b,
    "qwen2-audio-7b-instruct": _qwen2_audio_7b,
    "tiny-qwen-audio": lambda: _tiny(_qwen_audio_7b(), n_kv_heads=4),
    "tiny-qwen2-audio": lambda: _tiny(_qwen2_audio_7b(), n_kv_heads=2),
    "auricle-small": _auricle_small,
}


def preset(name: str, **overrides: Any) -> AudioLMConfig:
    """The named preset, with top-level fields overridden; unknown names raise :class:`ConfigError`."""
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; available presets: {sorted(PRESETS)}")
    return PRESETS[name]().replace(**overrides) if overrides else PRESETS[name]()
