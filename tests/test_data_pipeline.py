"""The training data pipeline: manifests -> tokenized examples -> length-bucketed, resumable batches."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from auricle.data.augment import Augmentation, augment_audio, retime_example
from auricle.data.collate import Collator
from auricle.data.dataset import ManifestDataset
from auricle.data.examples import IGNORE_INDEX
from auricle.data.manifest import Example, Word
from auricle.data.sampler import BucketBatchSampler, SampleKey, mixture_counts
from auricle.errors import ConfigError
from auricle.model import AudioLM
from auricle.prompt import encode_prompt, example_target
from auricle.tokenizer import train_bpe_tokenizer
from auricle.train.config import Recipe
from auricle.train.setup import model_config

WORDS = "red green blue cat dog bird sun moon tree river stone fire".split()


def _tone(rng: np.random.Generator, freqs: list[float], seconds: float) -> np.ndarray:
    t = np.arange(int(16000 * seconds)) / 16000
    x = sum(np.sin(2 * np.pi * f * t) for f in freqs) * 0.1
    return (x + 0.01 * rng.standard_normal(len(t))).astype(np.float32)


def write_word_chord(path: Path, rng: np.random.Generator) -> list[str]:
    """Write a chord whose notes stand for 2–4 random words of WORDS to ``path``; the words."""
    words = [str(w) for w in rng.choice(WORDS, size=int(rng.integers(2, 5)))]
    sf.write(path, _tone(rng, [200 + 50 * WORDS.index(w) for w in words], 0.3 + 0.1 * len(words)), 16000)
    return words


def make_corpus(root: Path, n_train: int = 16, n_valid: int = 4, seed: int = 0) -> Path:
    """A tiny multi-task corpus (FLAC + JSONL manifests + a small BPE tokenizer) under ``root``.

    Tasks cycle through asr, caption, scene and a two-audio chat; the audio is a chord whose notes
    stand for the words, so the text is learnable from the audio.
    """
    rng = np.random.default_rng(seed)
    (root / "audio").mkdir(parents=True, exist_ok=True)
    texts = []
    for split, n in (("train", n_train), ("valid", n_valid)):
        lines = []
        for i in range(n):
            name = f"audio/{split}{i}.flac"
            words = write_word_chord(root / name, rng)
            text = " ".join(words)
            texts.append(text)
            common = {"id": f"{split}{i}", "audio": [name], "split": split}
            kind = i % 4
            if kind == 0:
                ex = {**common, "task": "asr", "language": "en", "text": text}
            elif kind == 1:
                ex = {**common, "task": "caption", "text": f"a chord like {words[0]}"}
            elif kind == 2:
                ex = {**common, "task": "scene", "label": words[0]}
            else:
                second = f"audio/{split}{i}b.flac"
                sf.write(root / second, _tone(rng, [300.0], 0.4), 16000)
                messages = [
                    {
                        "role": "user",
                        "content": [
                            {"type": "audio", "audio": 0},
                            {"type": "audio", "audio": 1},
                            {"type": "text", "text": "Which one is longer?"},
                        ],
                    },
                    {"role": "assistant", "content": f"The first one, {words[-1]}."},
                ]
                ex = {**common, "task": "chat", "audio": [name, second], "messages": messages}
            lines.append(json.dumps(ex))
        (root / f"{split}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    train_bpe_tokenizer(
        texts * 5 + ["Which one is longer? The first one, a chord like"], 320, root / "tokenizer"
    )
    return root


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_corpus(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="module")
def tokenizer(corpus: Path):
    from auricle.tokenizer import load_tokenizer

    return load_tokenizer(corpus / "tokenizer")


def _dataset(corpus: Path, tokenizer, **kw) -> ManifestDataset:
    return ManifestDataset(
        [corpus / "train.jsonl"], tokenizer, style="qwen-audio", length_rule="floor", max_tokens=512, **kw
    )


def test_labels_are_the_rendered_targets_only(corpus: Path, tokenizer) -> None:
    ds = _dataset(corpus, tokenizer)
    ex = next(e for e in ds.examples if e.task == "asr")
    item = ds[ds.examples.index(ex)]
    target_ids = encode_prompt(example_target(ex), tokenizer).ids
    assert [t for t in item.labels if t != IGNORE_INDEX] == target_ids
    assert item.labels[: item.prompt_length] == [IGNORE_INDEX] * item.prompt_length
    assert item.input_ids[item.prompt_length :] == target_ids  # the target closes the sequence
    assert tokenizer.decode(target_ids[:-1]) == ex.text
    assert target_ids[-1] == tokenizer.eos_id


def test_chat_example_with_two_audios_fills_every_span(corpus: Path, tokenizer) -> None:
    ds = _dataset(corpus, tokenizer)
    i = next(i for i, e in enumerate(ds.examples) if e.task == "chat")
    item = ds[i]
    assert len(item.audios) == 2
    assistant = tokenizer.decode([t for t in item.labels if t != IGNORE_INDEX])
    assert assistant.startswith("The first one,")
    cfg = model_config(Recipe(), tokenizer)
    model = AudioLM(cfg).eval()
    batch = Collator(tokenizer.pad_id, cfg.encoder.n_mels, cfg.encoder.length_rule)([item, ds[0]])
    assert batch.mel.shape[0] == 3 and batch.mel_frames.tolist()[:2] == [len(a) // 160 for a in item.audios]
    with torch.no_grad():  # the placeholder spans match the encoder's output lengths exactly
        logits = model(batch.input_ids, batch.attention_mask, mel=batch.mel, mel_frames=batch.mel_frames)
    assert logits.shape[:2] == batch.input_ids.shape


def test_lengths_and_skips(corpus: Path, tokenizer) -> None:
    ds = _dataset(corpus, tokenizer)
    assert ds.lengths == [len(ds[i]) for i in range(len(ds))]
    short = ManifestDataset(
        [corpus / "train.jsonl"], tokenizer, style="qwen-audio", length_rule="floor", max_tokens=60
    )
    assert short.skipped["longer than data.max_tokens"] == len(ds) - len(short) > 0
    only = _dataset(corpus, tokenizer, tasks=["asr"])
    assert set(only.tasks) == {"asr"}
    with pytest.raises(ConfigError, match="unknown tasks"):
        _dataset(corpus, tokenizer, tasks=["asrr"])


def test_bucket_sampler_budget_determinism_and_shards() -> None:
    rng = np.random.default_rng(1)
    lengths = rng.integers(10, 200, size=300).tolist()
    tasks = ["asr"] * 300
    s = BucketBatchSampler(lengths, tasks, batch_tokens=1000, max_batch_size=16, seed=3, sort_window=64)
    batches = s.epoch_batches(0)
    assert sorted(i for b in batches for i in b) == list(range(300))  # every example once per epoch
    for b in batches:
        assert len(b) <= 16 and (len(b) == 1 or len(b) * max(lengths[i] for i in b) <= 1000)
    padded = sum(len(b) * max(lengths[i] for i in b) for b in batches)
    assert padded < 1.25 * sum(lengths)  # sorting windows keeps padding small
    again = BucketBatchSampler(lengths, tasks, batch_tokens=1000, max_batch_size=16, seed=3, sort_window=64)
    assert again.epoch_batches(0) == batches and again.epoch_batches(1) != batches
    # two ranks split every global batch; a rank with nothing gets a loss-free stand-in
    ranks = [
        BucketBatchSampler(
            lengths, tasks, batch_tokens=1000, max_batch_size=16, seed=3, sort_window=64, rank=r, world_size=2
        )
        for r in range(2)
    ]
    for b, (k0, k1) in zip(batches, zip(iter(ranks[0]), iter(ranks[1]))):
        real = [k.index for k in k0 + k1 if not k.padding]
        assert sorted(real) == sorted(b)
        assert len(b) > 1 or any(k.padding for k in k0 + k1)


def test_sampler_resumes_at_its_position() -> None:
    lengths = list(range(10, 70))
    s = BucketBatchSampler(lengths, ["asr"] * 60, batch_tokens=200, seed=0, sort_window=16)
    stream = iter(s)
    consumed = [next(stream) for _ in range(len(s) + 3)]  # into the second epoch
    expected = [next(stream) for _ in range(5)]
    last = consumed[-1][0]
    resumed = BucketBatchSampler(lengths, ["asr"] * 60, batch_tokens=200, seed=0, sort_window=16)
    resumed.load_state_dict(s.position_after(last.epoch, last.batch))
    after = iter(resumed)
    assert [next(after) for _ in range(5)] == expected


def test_mixture_weights() -> None:
    tasks = ["asr"] * 80 + ["caption"] * 20 + ["scene"] * 5
    assert mixture_counts(tasks, {"asr": 1, "caption": 1}) == {"asr": 50, "caption": 50}
    assert mixture_counts(tasks, {"asr": 3, "scene": 1}, epoch_size=10) == {"asr": 8, "scene": 2}
    with pytest.raises(ConfigError, match="no 'lid' examples"):
        mixture_counts(tasks, {"lid": 1.0})
    s = BucketBatchSampler(
        [5] * 105, tasks, batch_tokens=50, seed=0, mixture={"caption": 1, "scene": 1}, epoch_size=40
    )
    drawn = [tasks[i] for b in s.epoch_batches(0) for i in b]
    assert drawn.count("caption") == 20 and drawn.count("scene") == 20  # scene examples repeat


def test_augmentation_is_seeded_and_retimes_words() -> None:
    aug = Augmentation(prob=1.0, noise_snr_db=(10, 20), speed=(0.9, 1.1), gain_db=(-6, 6))
    x = np.sin(np.arange(16000) / 10).astype(np.float32)
    a = augment_audio(x, aug, 1.1, np.random.default_rng([1, 2]))
    b = augment_audio(x, aug, 1.1, np.random.default_rng([1, 2]))
    c = augment_audio(x, aug, 1.1, np.random.default_rng([1, 3]))
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert abs(len(a) - 16000 / 1.1) < 2
    ex = Example(
        id="w", task="srwt", audio=["x.flac"], language="en", text="a b", words=[Word("a", 0.5, 1.0)]
    )
    assert retime_example(ex, 2.0).words[0] == Word("a", 0.25, 0.5)
    with pytest.raises(ConfigError):
        Augmentation(speed=(1.2, 0.8))


def test_augmented_dataset_is_deterministic_per_key(corpus: Path, tokenizer) -> None:
    aug = Augmentation(prob=1.0, noise_snr_db=(5, 10), speed=(0.8, 1.2))
    ds = _dataset(corpus, tokenizer, augment=aug, seed=7)
    k = SampleKey(0, epoch=1, batch=2, slot=0)
    one, two = ds[k], ds[k]
    other = ds[SampleKey(0, epoch=2, batch=2, slot=0)]
    assert np.array_equal(one.audios[0], two.audios[0])
    assert not np.array_equal(one.audios[0], other.audios[0])
    assert all(t == IGNORE_INDEX for t in ds[SampleKey(0, 0, 0, 0, padding=True)].labels)


def test_workers_give_the_same_batches(corpus: Path, tokenizer) -> None:
    ds = _dataset(corpus, tokenizer, augment=Augmentation(prob=0.5, gain_db=(-3, 3)))
    cfg = model_config(Recipe(), tokenizer)
    collate = Collator(tokenizer.pad_id, cfg.encoder.n_mels, cfg.encoder.length_rule)

    def batches(workers: int) -> list:
        s = BucketBatchSampler(ds.lengths, ds.tasks, batch_tokens=400, seed=0, repeat=False)
        loader = torch.utils.data.DataLoader(ds, batch_sampler=s, collate_fn=collate, num_workers=workers)
        return list(loader)

    a, b = batches(0), batches(2)
    assert len(a) == len(b) > 1
    for x, y in zip(a, b):
        assert torch.equal(x.input_ids, y.input_ids) and torch.equal(x.mel, y.mel) and x.keys == y.keys
