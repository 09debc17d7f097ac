"""Special tokens of the Qwen-Audio (v1) and Qwen2-Audio (v2) vocabularies, in official order.

v1 numbers its special tokens consecutively after the 151,643 BPE ranks of ``qwen.tiktoken``:
``V1_SPECIALS[i]`` has id ``151643 + i`` (151643..155164, 3,522 tokens). The order follows the
official ``tokenization_qwen.py`` (``SPECIAL_TOKENS + AUDIO_ST``) and must never change: the ids
are baked into the checkpoints. v2 keeps only the ChatML tokens and adds three audio tokens.
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal

from auricle.errors import PromptError

# --- ChatML / document tokens (shared by v1 and v2) ---------------------------------------------
ENDOFTEXT = "<|endoftext|>"
IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
EXTRAS = tuple(f"<|extra_{i}|>" for i in range(205))

# --- v1 audio placeholders ------------------------------------------------------------------------
AUDIO_PAD = "[[[AUDIO:modality]]]"  # one per encoder frame inside <audio> ... </audio>
AUDIO_START = "<audio>"  # the model overwrites it with the learned audio-bos embedding
AUDIO_END = "</audio>"  # ... and this one with the learned audio-eos embedding

# --- v1 hierarchical task tags --------------------------------------------------------------------
STARTOFTRANSCRIPT = "<|startoftranscript|>"  # speech-to-text tasks (never "...transcription|>")
STARTOFANALYSIS = "<|startofanalysis|>"  # every other task
TRANSLATE = "<|translate|>"
TRANSCRIBE = "<|transcribe|>"
CAPTION = "<|caption|>"
KEYWORD = "<|keyword|>"
UNKNOWN = "<|unknown|>"  # audio language of non-speech audio

#: Language codes with a tag in the v1 vocabulary, in official (id) order.
LANGUAGES: tuple[str, ...] = ("en", "zh", "de", "es", "ko", "fr", "ja", "it")
ZH_TR = "<|zh_tr|>"  # traditional Chinese output
#: Every code accepted where a language tag is expected (``zh_tr`` = traditional Chinese).
LANGUAGE_CODES: tuple[str, ...] = (*LANGUAGES, "zh_tr")

NOTIMESTAMPS = "<|notimestamps|>"
SIL = "<|sil|>"
TIMESTAMPS = "<|timestamps|>"

#: Largest time a timestamp token can express, in seconds.
MAX_TIMESTAMP = 30.0
#: ``<|0.00|>`` .. ``<|30.00|>`` in 10 ms steps, built with the same float expression as the official code.
TIMESTAMP_TOKENS = tuple(f"<|{i * 0.01:.2f}|>" for i in range(3001))

CAPTION_AUDIOCAPS = "<|caption_audiocaps|>"
CAPTION_CLOTHO = "<|caption_clotho|>"
AUDIOSET_ONTOLOGY = "<|audioset_ontology|>"
CAPTION_PLAIN = "<|caption_plain|>"
ITN = "<|itn|>"
WO_ITN = "<|wo_itn|>"
STARTOFENTITYVALUE = "<|startofentityvalue|>"
ENDOFENTITYVALUE = "<|endofentityvalue|>"
STARTOFENTITYTYPE = "<|startofentitytype|>"
ENDOFENTITYTYPE = "<|endofentitytype|>"
NAMED_ENTITY_RECOGNITION = "<|named_entity_recognition|>"
AUDIO_GROUNDING = "<|audio_grounding|>"
STARTOFWORD = "<|startofword|>"
ENDOFWORD = "<|endofword|>"
DELIM = "<|delim|>"
EMOTION_RECOGNITION = "<|emotion_recognition|>"
MUSIC_DESCRIPTION = "<|music_description|>"
NOTE_ANALYSIS = "<|note_analysis|>"
PITCH = "<|pitch|>"
MIDI_PITCH_TOKENS = tuple(f"<|midi_pitch_{i}|>" for i in range(128))
VELOCITY = "<|velocity|>"
MIDI_VELOCITY_TOKENS = tuple(f"<|midi_velocity_{i}|>" for i in range(128))
SONIC = "<|sonic|>"
INSTRUMENT = "<|instrument|>"
SPEAKER_META = "<|speaker_meta|>"
SONG_META = "<|song_meta|>"
QUESTION = "<|question|>"
ANSWER = "<|answer|>"
CHOICE = "<|choice|>"
SCENE = "<|scene|>"
EVENT = "<|event|>"
VOCAL_CLASSIFICATION = "<|vocal_classification|>"
SPEECH_UNDERSTANDING = "<|speech_understanding|>"
SCENARIO = "<|scenario|>"
ACTION = "<|action|>"
ENTITIES = "<|entities|>"
SPEECH_EDIT = "<|speech_edit|>"

#: The first four groups of the official list: document/ChatML tokens and the reserved extras.
QWEN_SPECIALS: tuple[str, ...] = (ENDOFTEXT, IM_START, IM_END, *EXTRAS)

#: The official ``AUDIO_ST`` tuple: audio placeholders and every task tag, in id order.
AUDIO_SPECIALS: tuple[str, ...] = (
    AUDIO_PAD,
    STARTOFTRANSCRIPT,
    STARTOFANALYSIS,
    TRANSLATE,
    TRANSCRIBE,
    CAPTION,
    KEYWORD,
    UNKNOWN,
    *(f"<|{code}|>" for code in LANGUAGES),
    ZH_TR,
    NOTIMESTAMPS,
    SIL,
    TIMESTAMPS,
    *TIMESTAMP_TOKENS,
    CAPTION_AUDIOCAPS,
    CAPTION_CLOTHO,
    AUDIOSET_ONTOLOGY,
    CAPTION_PLAIN,
    ITN,
    WO_ITN,
    STARTOFENTITYVALUE,
    ENDOFENTITYVALUE,
    STARTOFENTITYTYPE,
    ENDOFENTITYTYPE,
    NAMED_ENTITY_RECOGNITION,
    AUDIO_GROUNDING,
    STARTOFWORD,
    ENDOFWORD,
    DELIM,
    EMOTION_RECOGNITION,
    MUSIC_DESCRIPTION,
    NOTE_ANALYSIS,
    PITCH,
    *MIDI_PITCH_TOKENS,
    VELOCITY,
    *MIDI_VELOCITY_TOKENS,
    SONIC,
    INSTRUMENT,
    SPEAKER_META,
    SONG_META,
    QUESTION,
    ANSWER,
    CHOICE,
    SCENE,
    EVENT,
    VOCAL_CLASSIFICATION,
    SPEECH_UNDERSTANDING,
    SCENARIO,
    ACTION,
    ENTITIES,
    SPEECH_EDIT,
    AUDIO_START,
    AUDIO_END,
)

#: Every v1 special token; ``V1_SPECIALS[i]`` has id ``V1_FIRST_SPECIAL_ID + i``.
V1_SPECIALS: tuple[str, ...] = QWEN_SPECIALS + AUDIO_SPECIALS
ALL_V1_SPECIALS = V1_SPECIALS
#: Number of BPE ranks in ``qwen.tiktoken`` = id of ``<|endoftext|>``.
V1_FIRST_SPECIAL_ID = 151643
#: Ids the v1 tokenizer defines (151,643 ranks + 3,522 specials).
V1_VOCAB_SIZE = V1_FIRST_SPECIAL_ID + len(V1_SPECIALS)
#: Rows of the v1 embedding / logits; ids 155165..155946 exist in the model but not in the tokenizer.
V1_EMBEDDING_ROWS = 155947

# --- v2 (Qwen2-Audio) ----------------------------------------------------------------------------
AUDIO_TOKEN = "<|AUDIO|>"  # one per encoder frame
AUDIO_BOS = "<|audio_bos|>"
AUDIO_EOS = "<|audio_eos|>"
#: The v2 special tokens with their ids in the Qwen2-Audio vocabulary.
V2_SPECIAL_IDS: dict[str, int] = {
    ENDOFTEXT: 151643,
    IM_START: 151644,
    IM_END: 151645,
    AUDIO_TOKEN: 151646,
    AUDIO_BOS: 151647,
    AUDIO_EOS: 151648,
}
V2_SPECIALS: tuple[str, ...] = tuple(V2_SPECIAL_IDS)

#: Tokens that only the prompt encoder may place: they delimit audio spans or hold audio frames.
AUDIO_STRUCTURE_TOKENS: frozenset[str] = frozenset(
    {AUDIO_PAD, AUDIO_START, AUDIO_END, AUDIO_TOKEN, AUDIO_BOS, AUDIO_EOS}
)
#: Tokens that delimit documents and ChatML messages.
CHAT_STRUCTURE_TOKENS: frozenset[str] = frozenset({ENDOFTEXT, IM_START, IM_END})

_TIMESTAMP_INDEX = {token: i for i, token in enumerate(TIMESTAMP_TOKENS)}


def language_tag(code: str) -> str:
    """The tag of a language code (``"en"`` -> ``"<|en|>"``); raises PromptError for codes without one."""
    if code not in LANGUAGE_CODES:
        raise PromptError(
            f"language {code!r} has no tag in the Qwen-Audio vocabulary; valid codes: {list(LANGUAGE_CODES)}"
        )
    return f"<|{code}|>"


def timestamp_centis(t: float) -> int:
    """``t`` seconds as a timestamp index: centiseconds, rounded half-up, clamped to [0, 3000]."""
    if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t):
        raise PromptError(f"timestamp must be a finite number of seconds, got {t!r}")
    # Decimal of the shortest repr, so 1.005 rounds to 1.01 as written, not as 1.00499999...
    centis = int(Decimal(repr(float(t))).scaleb(2).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    return min(max(centis, 0), len(TIMESTAMP_TOKENS) - 1)


def timestamp_token(t: float) -> str:
    """The timestamp token nearest to ``t`` seconds: rounded half-up to 10 ms, clamped to [0, 30]."""
    return TIMESTAMP_TOKENS[timestamp_centis(t)]


def parse_timestamp(token: str) -> float | None:
    """Seconds of a timestamp token such as ``"<|2.33|>"``; ``None`` for any other string."""
    centis = _TIMESTAMP_INDEX.get(token)
    return None if centis is None else centis / 100


def midi_pitch_token(pitch: int) -> str:
    """``<|midi_pitch_P|>`` for a MIDI pitch 0..127."""
    return MIDI_PITCH_TOKENS[_midi_value(pitch, "pitch")]


def midi_velocity_token(velocity: int) -> str:
    """``<|midi_velocity_V|>`` for a MIDI velocity 0..127."""
    return MIDI_VELOCITY_TOKENS[_midi_value(velocity, "velocity")]


def _midi_value(value: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 127:
        raise PromptError(f"MIDI {what} must be an integer 0..127, got {value!r}")
    return value
