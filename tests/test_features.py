"""Log-mel features against transformers' WhisperFeatureExtractor and the Qwen-Audio filter bank, and the
audio-length arithmetic against the worked examples of the reference (spec §2.6)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from audio_fixtures import MEL_FILTERS_NPZ, real_audio, sine

from auricle.audio import load_audio
from auricle.audio.features import (
    N_FRAMES,
    N_SAMPLES,
    AudioLengths,
    audio_token_count,
    frames_for,
    log_mel,
    mel_filters,
)
from auricle.errors import AudioError, ConfigError

transformers = pytest.importorskip("transformers")
from transformers import WhisperFeatureExtractor  # noqa: E402
from transformers.audio_utils import mel_filter_bank  # noqa: E402

transformers.logging.set_verbosity_error()
TOLERANCE = 1e-4


@pytest.fixture(scope="module", params=[80, 128])
def extractor(request):
    return WhisperFeatureExtractor(feature_size=request.param)


def reference(extractor, audio: np.ndarray) -> torch.Tensor:
    """The transformers features [n_mels, 3000] of one audio (padded to / truncated at 30 s)."""
    out = extractor([np.asarray(audio, np.float32)], sampling_rate=16000, return_tensors="pt")
    return out["input_features"][0]


def assert_matches_reference(extractor, audio: np.ndarray) -> None:
    expected = reference(extractor, audio)
    n_mels = extractor.feature_size
    short = log_mel([audio], n_mels)
    frames = short.features.shape[-1]
    length = min(len(audio), N_SAMPLES)
    assert frames == min(N_FRAMES, -(-length // 160) + 5)
    assert short.num_samples.tolist() == [length]
    torch.testing.assert_close(short.features[0], expected[:, :frames], atol=TOLERANCE, rtol=0)
    full = log_mel([audio], n_mels, pad_to_30s=True).features
    assert full.shape == (1, n_mels, N_FRAMES)
    torch.testing.assert_close(full[0], expected, atol=TOLERANCE, rtol=0)


# -------------------------------------------------------------------------------------------- filters


def test_mel_80_matches_the_qwen_audio_file():
    if not MEL_FILTERS_NPZ.is_file():
        pytest.skip(f"{MEL_FILTERS_NPZ} is not available")
    shipped = torch.from_numpy(np.load(MEL_FILTERS_NPZ)["mel_80"])
    ours = mel_filters(80)
    assert ours.shape == shipped.shape == (80, 201)
    assert (ours - shipped).abs().max().item() < 1e-8  # measured 1.9e-9: one float32 ulp


@pytest.mark.parametrize("n_mels", [80, 128])
def test_mel_filters_match_transformers(n_mels):
    theirs = mel_filter_bank(
        num_frequency_bins=201,
        num_mel_filters=n_mels,
        min_frequency=0.0,
        max_frequency=8000.0,
        sampling_rate=16000,
        norm="slaney",
        mel_scale="slaney",
    )
    torch.testing.assert_close(
        mel_filters(n_mels, dtype=torch.float64), torch.from_numpy(theirs.T), atol=1e-12, rtol=0
    )


def test_mel_filters_are_cached_per_dtype():
    assert mel_filters(80) is mel_filters(80, device="cpu")
    assert mel_filters(80, dtype=torch.float64).dtype == torch.float64
    with pytest.raises(ConfigError, match="n_mels"):
        mel_filters(0)


# ----------------------------------------------------------------------------------- reference parity


def test_noise_tone_and_lengths(extractor):
    rng = np.random.default_rng(0)
    for length in (1, 159, 161, 48017, N_SAMPLES):
        assert_matches_reference(extractor, 0.1 * rng.standard_normal(length, dtype=np.float32))
    assert_matches_reference(extractor, sine(3.3, hz=3000, amplitude=0.9))


def test_longer_than_30s_is_truncated(extractor):
    audio = 0.1 * np.random.default_rng(1).standard_normal(N_SAMPLES + 12345, dtype=np.float32)
    assert_matches_reference(extractor, audio)
    assert log_mel([audio]).num_samples.tolist() == [N_SAMPLES]


def test_silence_and_short_burst(extractor):
    audio = np.zeros(40000, np.float32)
    audio[20000:20400] = np.random.default_rng(2).standard_normal(400)
    assert_matches_reference(extractor, audio)
    assert_matches_reference(extractor, np.zeros(20000, np.float32))  # all floor: (−10 + 4) / 4 everywhere


@pytest.mark.parametrize(
    "name",
    ["glass-breaking.mp3", "libritts-1089-134686-000007-000004.wav", "librispeech-1272-128104-0000.flac"],
)
def test_real_recordings(extractor, name):
    assert_matches_reference(extractor, load_audio(real_audio(name)))


def test_music_longer_than_30s(extractor):
    assert_matches_reference(extractor, load_audio(real_audio("music.wav")))


def test_batch_items_equal_their_reference(extractor):
    rng = np.random.default_rng(3)
    audios = [
        0.1 * rng.standard_normal(N_SAMPLES, dtype=np.float32),  # full 30 s: the others get long silent tails
        sine(1.0, hz=600),
        0.3 * rng.standard_normal(333, dtype=np.float32),
        sine(7.77, hz=2500, amplitude=0.2),
    ]
    batch = log_mel(audios, extractor.feature_size)
    assert batch.features.shape == (4, extractor.feature_size, N_FRAMES)
    assert batch.num_samples.tolist() == [len(audio) for audio in audios]
    expected = extractor(audios, sampling_rate=16000, return_tensors="pt")["input_features"]
    torch.testing.assert_close(batch.features, expected, atol=TOLERANCE, rtol=0)


def test_short_batch_is_padded_to_the_longest_item():
    audios = [sine(0.5), sine(2.0, hz=900), sine(1.2, hz=300)]
    batch = log_mel(audios)
    assert batch.features.shape[-1] == 2 * 16000 // 160 + 5
    for index, audio in enumerate(audios):
        alone = log_mel([audio]).features[0]
        torch.testing.assert_close(batch.features[index, :, : alone.shape[-1]], alone, atol=1e-6, rtol=0)


@pytest.mark.parametrize("chunk", [97, 1 << 16])
def test_chunking_does_not_change_the_result(monkeypatch, chunk):
    import auricle.audio.features as features_module

    rng = np.random.default_rng(6)
    audios = [0.1 * rng.standard_normal(n, dtype=np.float32) for n in (60_000, 5_000, 160, 24_000)]
    expected = log_mel(audios).features
    monkeypatch.setattr(features_module, "_CPU_CHUNK_FRAMES", chunk)
    torch.testing.assert_close(log_mel(audios).features, expected, atol=1e-6, rtol=0)


def test_tensor_batch_with_lengths_equals_list():
    rng = np.random.default_rng(4)
    rows = torch.from_numpy(0.1 * rng.standard_normal((3, 20000), dtype=np.float32))
    lengths = [20000, 5000, 0]
    batch = log_mel(rows, lengths=torch.tensor(lengths))
    listed = log_mel([rows[0], rows[1, :5000], rows[2, :0]])
    torch.testing.assert_close(batch.features, listed.features, atol=0, rtol=0)
    assert batch.num_samples.tolist() == lengths
    with pytest.raises(AudioError, match="lengths"):
        log_mel(rows, lengths=[1, 2])
    with pytest.raises(AudioError, match="lengths"):
        log_mel(rows, lengths=[1, 2, 30000])


def test_float64_and_single_audio_inputs():
    audio = sine(0.7, hz=1234)
    expected = log_mel([audio]).features
    torch.testing.assert_close(log_mel(audio.astype(np.float64)).features, expected, atol=0, rtol=0)
    torch.testing.assert_close(log_mel(torch.from_numpy(audio)).features, expected, atol=0, rtol=0)
    torch.testing.assert_close(log_mel([audio[::-1].copy()[::-1]]).features, expected, atol=0, rtol=0)


def test_bad_inputs():
    with pytest.raises(AudioError, match="NaN or infinite"):
        log_mel([sine(0.2), np.full(100, np.nan, np.float32)])
    with pytest.raises(AudioError, match="1-D"):
        log_mel([np.zeros((2, 100), np.float32)])
    with pytest.raises(AudioError, match="dtype"):
        log_mel([np.zeros(100, np.int16)])
    with pytest.raises(AudioError, match="empty"):
        log_mel([])
    with pytest.raises(ConfigError, match="n_mels"):
        log_mel([sine(0.1)], n_mels=300)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    audios = [0.1 * np.random.default_rng(5).standard_normal(N_SAMPLES, dtype=np.float32), sine(3.0)]
    for pad in (False, True):
        cpu = log_mel(audios, 128, pad_to_30s=pad)
        gpu = log_mel(audios, 128, device="cuda", pad_to_30s=pad)
        assert gpu.features.device.type == "cuda"
        torch.testing.assert_close(gpu.features.cpu(), cpu.features, atol=TOLERANCE, rtol=0)


# ---------------------------------------------------------------------------------- length arithmetic

# spec §2.6: L, v1 (M, C, N), v2 (M, C, N)
WORKED_EXAMPLES = [
    (400, (2, 1, 0), (3, 2, 1)),
    (1600, (10, 5, 2), (10, 5, 2)),
    (8000, (50, 25, 12), (50, 25, 12)),
    (16000, (100, 50, 25), (100, 50, 25)),
    (16320, (102, 51, 25), (102, 51, 25)),
    (16321, (102, 51, 25), (103, 52, 26)),
    (160000, (1000, 500, 250), (1000, 500, 250)),
    (480000, (3000, 1500, 750), (3000, 1500, 750)),
    (600000, (3000, 1500, 750), (3000, 1500, 750)),
]


@pytest.mark.parametrize(("samples", "v1", "v2"), WORKED_EXAMPLES)
def test_worked_examples(samples, v1, v2):
    assert audio_token_count(samples, "floor") == AudioLengths(*v1)
    assert audio_token_count(samples, "ceil") == AudioLengths(*v2)
    assert audio_token_count(samples).audio_tokens == v1[2]  # floor (v1) is the default


@pytest.mark.parametrize(
    ("samples", "floor", "ceil"),
    [
        (0, (0, 0, 0), (0, 0, 0)),
        (1, (0, 0, 0), (1, 1, 0)),
        (159, (0, 0, 0), (1, 1, 0)),
        (160, (1, 1, 0), (1, 1, 0)),
        (161, (1, 1, 0), (2, 1, 0)),
        (320, (2, 1, 0), (2, 1, 0)),
        (640, (4, 2, 1), (4, 2, 1)),
        (479999, (2999, 1500, 750), (3000, 1500, 750)),
        (480001, (3000, 1500, 750), (3000, 1500, 750)),
    ],
)
def test_edges(samples, floor, ceil):
    assert audio_token_count(samples, "floor") == AudioLengths(*floor)
    assert audio_token_count(samples, "ceil") == AudioLengths(*ceil)


def test_tensor_lengths_use_the_same_formula():
    lengths = torch.arange(0, 700_000, 997)
    for rule in ("floor", "ceil"):
        batched = audio_token_count(lengths, rule)
        for index in range(0, len(lengths), 37):
            one = audio_token_count(int(lengths[index]), rule)
            assert (
                batched.mel_frames[index],
                batched.encoder_frames[index],
                batched.audio_tokens[index],
            ) == (
                one.mel_frames,
                one.encoder_frames,
                one.audio_tokens,
            )


def test_ceil_rule_equals_the_v2_attention_mask():
    extractor = WhisperFeatureExtractor(feature_size=128)
    for length in (1, 159, 160, 161, 16321, 479999, 480000, 500000):
        out = extractor(
            [np.zeros(length, np.float32)],
            sampling_rate=16000,
            return_attention_mask=True,
            return_tensors="pt",
        )
        assert int(out["attention_mask"].sum()) == frames_for(length, "ceil")


def test_features_cover_the_frames_the_encoder_reads():
    for length in (1, 159, 160, 161, 16321, 100_000, N_SAMPLES - 1):
        frames = log_mel([np.ones(length, np.float32) * 0.1]).features.shape[-1]
        for rule in ("floor", "ceil"):
            assert frames >= min(N_FRAMES, frames_for(length, rule) + 3)


def test_length_errors():
    with pytest.raises(AudioError, match="non-negative"):
        audio_token_count(-1)
    with pytest.raises(AudioError, match="non-negative"):
        audio_token_count(1.5)
    with pytest.raises(AudioError, match="negative"):
        audio_token_count(torch.tensor([5, -1]))
    with pytest.raises(AudioError, match="integer tensor"):
        audio_token_count(torch.tensor([5.0]))
    with pytest.raises(ConfigError, match="'floor'"):
        frames_for(100, "round")
