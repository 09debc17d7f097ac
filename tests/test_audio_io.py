"""load_audio: real recordings in every container, bytes/file objects, arrays, and every error path."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf
import torch
from audio_fixtures import dominant_hz, real_audio, sine, write_with_pyav

from auricle.audio.io import SAMPLE_RATE, load_audio
from auricle.errors import AudioError

# name, source rate, source channels, duration in seconds (from the file headers)
RECORDINGS = [
    ("glass-breaking.mp3", 48000, 2, 4.032),
    ("spanish-speech.mp3", 48000, 1, 8.32),
    ("libritts-1089-134686-000007-000004.wav", 24000, 1, 9.0),
    ("librispeech-1272-128104-0000.flac", 16000, 1, 93680 / 16000),
    ("music.wav", 16000, 1, 1546031 / 16000),
    ("chongqing-dialect-speech.wav", 48000, 1, 10.38),
]


@pytest.mark.parametrize(("name", "rate", "channels", "seconds"), RECORDINGS)
def test_real_recordings_decode_to_16k_mono(name, rate, channels, seconds):
    audio = load_audio(real_audio(name))
    assert audio.dtype == np.float32 and audio.ndim == 1 and audio.flags.c_contiguous
    assert abs(audio.size - seconds * SAMPLE_RATE) <= 1
    assert np.isfinite(audio).all()
    assert 0.01 < np.abs(audio).max() < 1.5  # real sound, in the usual range


def test_16k_flac_is_returned_unchanged():
    path = real_audio("librispeech-1272-128104-0000.flac")
    expected, rate = sf.read(path, dtype="float32")
    assert rate == 16000
    np.testing.assert_array_equal(load_audio(path), expected)


def test_stereo_mp3_is_averaged_then_resampled():
    path = real_audio("glass-breaking.mp3")
    import av
    import soxr

    with av.open(str(path)) as container:
        planes = np.concatenate([frame.to_ndarray() for frame in container.decode(audio=0)], axis=1)
    assert planes.shape[0] == 2
    expected = soxr.resample(planes.mean(axis=0).astype(np.float32), 48000, 16000, quality="HQ")
    np.testing.assert_allclose(load_audio(path), expected, atol=1e-6)


@pytest.mark.parametrize("name", ["spanish-speech.mp3", "librispeech-1272-128104-0000.flac"])
def test_bytes_and_file_objects_equal_the_path(name, tmp_path):
    path = real_audio(name)
    from_path = load_audio(path)
    data = path.read_bytes()
    np.testing.assert_array_equal(load_audio(data), from_path)
    np.testing.assert_array_equal(load_audio(bytearray(data)), from_path)
    np.testing.assert_array_equal(load_audio(io.BytesIO(data)), from_path)
    with open(path, "rb") as handle:
        np.testing.assert_array_equal(load_audio(handle), from_path)
    np.testing.assert_array_equal(load_audio(str(path)), from_path)


@pytest.mark.parametrize(
    ("suffix", "container", "codec", "with_video"),
    [
        (".webm", "webm", "libopus", False),
        (".m4a", "ipod", "aac", False),
        (".mp4", "mp4", "aac", True),
        (".mkv", "matroska", "libopus", True),
    ],
)
def test_pyav_containers(tmp_path, suffix, container, codec, with_video):
    path = write_with_pyav(tmp_path / f"tone{suffix}", container, codec, sine(1.0, 48000), 48000, with_video)
    audio = load_audio(path)
    assert abs(audio.size - SAMPLE_RATE) < 0.05 * SAMPLE_RATE  # encoder priming/padding is small
    assert dominant_hz(audio) == pytest.approx(440, abs=2)
    np.testing.assert_array_equal(load_audio(path.read_bytes()), audio)


def test_video_without_audio_is_refused(tmp_path):
    path = write_with_pyav(tmp_path / "silent.mp4", "mp4", "aac", np.zeros(0, np.float32), 48000, True)
    with pytest.raises(AudioError, match="no audio stream"):
        load_audio(path)


# --------------------------------------------------------------------------------------------- arrays


def test_array_at_16k_is_passed_through():
    tone = sine(0.5)
    out = load_audio(tone)
    np.testing.assert_array_equal(out, tone)


def test_array_is_resampled_from_its_rate():
    out = load_audio(sine(2.0, 8000, hz=1000), sampling_rate=8000)
    assert out.size == 2 * SAMPLE_RATE
    assert dominant_hz(out) == pytest.approx(1000, abs=1)


def test_pcm_integers_are_scaled():
    np.testing.assert_array_equal(load_audio(np.array([-32768, 0, 16384], np.int16)), [-1.0, 0.0, 0.5])
    np.testing.assert_array_equal(load_audio(np.array([-(2**31), 2**30], np.int32)), [-1.0, 0.5])
    np.testing.assert_array_equal(load_audio(np.array([0, 128, 192], np.uint8)), [-1.0, 0.0, 0.5])


@pytest.mark.parametrize("layout", ["channels_last", "channels_first"])
def test_stereo_arrays_are_averaged(layout):
    left, right = sine(0.25), np.full(4000, 0.25, np.float32)
    stereo = np.stack([left, right], axis=1 if layout == "channels_last" else 0)
    np.testing.assert_allclose(load_audio(stereo), (left + right) / 2, atol=1e-7)


def test_torch_tensors_are_accepted():
    tone = sine(0.25)
    np.testing.assert_array_equal(load_audio(torch.from_numpy(tone)), tone)
    half = load_audio(torch.from_numpy(tone).to(torch.bfloat16))
    np.testing.assert_allclose(half, tone, atol=1e-2)
    resampled = load_audio(torch.from_numpy(sine(1.0, 22050)), sampling_rate=22050)
    assert resampled.size == SAMPLE_RATE


# --------------------------------------------------------------------------------------------- errors


def _wav_bytes(samples: np.ndarray, rate: int = 16000) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, samples, rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(AudioError, match="not found"):
        load_audio(tmp_path / "nope.wav")
    with pytest.raises(AudioError, match="not a regular file"):
        load_audio(tmp_path)


def test_zero_length_file_and_empty_bytes(tmp_path):
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(AudioError, match="empty"):
        load_audio(empty)
    with pytest.raises(AudioError, match="empty"):
        load_audio(b"")


def test_text_named_wav(tmp_path):
    fake = tmp_path / "notes.wav"
    fake.write_text("this is not audio, just a text file\n" * 20)
    with pytest.raises(AudioError, match="corrupt or not in a supported"):
        load_audio(fake)


def test_truncated_header_and_random_bytes():
    wav = _wav_bytes(sine(0.5))
    with pytest.raises(AudioError):
        load_audio(wav[:20])
    for seed in range(3):
        with pytest.raises(AudioError):
            load_audio(np.random.default_rng(seed).bytes(4096))


def test_header_without_samples():
    with pytest.raises(AudioError, match="no audio samples"):
        load_audio(_wav_bytes(np.zeros(0, np.float32)))


def test_damaged_mp3_never_leaks_decoder_errors():
    data = real_audio("spanish-speech.mp3").read_bytes()
    rng = np.random.default_rng(0)
    damaged = [data[:n] for n in (10, 200, 417, 5000)]
    for _ in range(4):
        corrupt = bytearray(data)
        positions = rng.integers(0, len(corrupt), 200)
        corrupt[positions[0] : positions[0] + 1] = b""
        for position in positions[1:]:
            corrupt[position] = int(rng.integers(0, 256))
        damaged.append(bytes(corrupt))
    for blob in damaged:
        try:
            out = load_audio(blob)
        except AudioError:
            continue
        assert out.dtype == np.float32 and np.isfinite(out).all()


@pytest.mark.parametrize("bad", [np.float32("nan"), np.float32("inf"), -np.float32("inf")])
def test_non_finite_samples(bad):
    tone = sine(0.1)
    tone[100] = bad
    with pytest.raises(AudioError, match="NaN or infinite"):
        load_audio(tone)


def test_nan_in_a_decoded_file():
    with pytest.raises(AudioError, match="NaN or infinite"):
        buffer = io.BytesIO()
        sf.write(buffer, np.array([0.0, np.nan, 0.5], np.float32), 16000, format="WAV", subtype="FLOAT")
        load_audio(buffer.getvalue())


@pytest.mark.parametrize(
    "array",
    [np.zeros(0, np.float32), np.zeros((0, 2), np.float32), torch.zeros(0)],
    ids=["1d", "2d", "tensor"],
)
def test_empty_arrays(array):
    with pytest.raises(AudioError, match="zero length"):
        load_audio(array)


def test_bad_array_shapes_and_dtypes():
    with pytest.raises(AudioError, match="shape"):
        load_audio(np.zeros((2, 3, 100), np.float32))
    with pytest.raises(AudioError, match="dtype"):
        load_audio(np.zeros(100, np.int64))
    with pytest.raises(AudioError, match="dtype"):
        load_audio(np.zeros(100, np.complex64))


@pytest.mark.parametrize("rate", [0, -16000, float("nan"), float("inf"), "16000", True])
def test_non_positive_sampling_rate(rate):
    with pytest.raises(AudioError, match="sampling_rate"):
        load_audio(sine(0.1), sampling_rate=rate)


def test_fewer_than_one_output_sample():
    with pytest.raises(AudioError, match="shorter than one sample"):
        load_audio(np.ones(3, np.float32), sampling_rate=1e6)


def test_sampling_rate_is_refused_for_encoded_input():
    with pytest.raises(AudioError, match="encoded input"):
        load_audio(_wav_bytes(sine(0.1)), sampling_rate=16000)


def test_unsupported_source_type():
    with pytest.raises(AudioError, match="Cannot load audio"):
        load_audio(12345)
    with pytest.raises(AudioError, match="binary mode"):
        load_audio(io.StringIO("text"))


def test_max_seconds():
    with pytest.raises(AudioError, match="longer than max_seconds=30"):
        load_audio(real_audio("music.wav"), max_seconds=30)  # soundfile path, checked before reading
    with pytest.raises(AudioError, match="longer than max_seconds=5"):
        load_audio(real_audio("spanish-speech.mp3"), max_seconds=5)  # PyAV path, checked while decoding
    with pytest.raises(AudioError, match="longer than max_seconds=1"):
        load_audio(sine(2.0, 8000), sampling_rate=8000, max_seconds=1)
    assert load_audio(sine(1.0), max_seconds=1).size == SAMPLE_RATE
    with pytest.raises(AudioError, match="max_seconds must be"):
        load_audio(sine(1.0), max_seconds=0)


def test_audio_error_is_a_value_error():
    with pytest.raises(ValueError):
        load_audio(b"garbage" * 100)
