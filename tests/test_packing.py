"""Audio packing: the examples of one audio in one row give the same logits, losses and gradients."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from test_data_pipeline import write_word_chord

from auricle.data.collate import Collator
from auricle.data.dataset import ManifestDataset
from auricle.data.examples import CachedAudio
from auricle.data.sampler import BucketBatchSampler, SampleKey
from auricle.errors import ConfigError
from auricle.model import AudioLM
from auricle.tokenizer import load_tokenizer, train_bpe_tokenizer
from auricle.train.config import Recipe, load_recipe
from auricle.train.distributed import DistInfo
from auricle.train.loop import train
from auricle.train.losses import lm_loss_sums, target_rows
from auricle.train.setup import augmentation, build_sampler, model_config

TASKS_PER_CLIP = ("asr", "lid", "caption", "scene", "aqa")


def make_multitask_corpus(root: Path, clips: int = 6, seed: int = 0) -> Path:
    """Clips that each carry several tasks (as `auricle data synth` writes them), plus a tokenizer."""
    rng = np.random.default_rng(seed)
    (root / "audio").mkdir(parents=True, exist_ok=True)
    lines, texts = [], []
    for i in range(clips):
        name = f"audio/clip{i}.flac"
        words = write_word_chord(root / name, rng)
        text = " ".join(words)
        texts.append(text)
        common = {"audio": [name], "split": "train"}
        by_task = {
            "asr": {"language": "en", "text": text},
            "lid": {"language": "en"},
            "caption": {"text": f"a chord like {words[0]}"},
            "scene": {"label": words[-1]},
            "aqa": {"question": "What is the first word?", "text": words[0]},
        }
        for task in TASKS_PER_CLIP[: 2 + i % 4]:
            lines.append(json.dumps({"id": f"clip{i}-{task}", "task": task, **common, **by_task[task]}))
    (root / "train.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    train_bpe_tokenizer(texts * 5 + ["a chord like What is the first word?"], 320, root / "tokenizer")
    return root


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_multitask_corpus(tmp_path_factory.mktemp("packing"))


@pytest.fixture(scope="module")
def dataset(corpus: Path) -> ManifestDataset:
    tok = load_tokenizer(corpus / "tokenizer")
    return ManifestDataset(
        [corpus / "train.jsonl"], tok, style="qwen-audio", length_rule="floor", max_tokens=512
    )


def _items(ds: ManifestDataset, indices: list[int], unit: int) -> list:
    return [ds[SampleKey(i, 0, 0, slot, unit=unit)] for slot, i in enumerate(indices)]


def _clip_indices(ds: ManifestDataset, clip: int) -> list[int]:
    return [i for i, ex in enumerate(ds.examples) if ex.id.startswith(f"clip{clip}-")]


def _loss_and_grads(model: AudioLM, batch) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    model.zero_grad()
    audio = batch.audio_inputs(start_layer=0)
    logits = model(batch.input_ids, batch.attention_mask, logit_rows=target_rows(batch.labels), **audio)
    loss, correct = lm_loss_sums(logits, batch.labels)
    loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return logits.detach(), loss.detach(), grads


def test_dataset_knows_which_examples_share_an_audio(dataset: ManifestDataset) -> None:
    clip = _clip_indices(dataset, 3)
    assert len(clip) == 5 and len({dataset.groups[i] for i in clip}) == 1
    assert dataset.groups[clip[0]] != dataset.groups[_clip_indices(dataset, 2)[0]]
    item = dataset[clip[0]]
    assert dataset.shared[clip[0]] == item.audio_end > 0  # the audio span closes the shared part
    assert item.audio_end < item.prompt_length


@pytest.mark.parametrize("cached", [False, True])
def test_a_packed_row_gives_the_same_logits_loss_and_gradients(
    dataset: ManifestDataset, cached: bool
) -> None:
    """Every target's logits, the summed loss and every gradient equal those of one row per example."""
    torch.manual_seed(0)
    cfg = model_config(Recipe(), dataset.tokenizer)
    model = AudioLM(cfg)  # train mode (no dropout in the model): the path training takes
    collate = Collator(dataset.tokenizer.pad_id, cfg.encoder.n_mels, cfg.encoder.length_rule)
    indices = _clip_indices(dataset, 3) + _clip_indices(dataset, 0)  # a packed unit and a plain pair
    packed_items = _items(dataset, indices[:5], unit=0) + _items(dataset, indices[5:], unit=-1)
    plain_items = _items(dataset, indices, unit=-1)
    if cached:  # encoder states cached after the conv front end (train.cached_encoder_layers)
        for it in packed_items + plain_items:
            mel = collate([it]).mel
            frames = collate([it]).mel_frames
            states, length = model.encoder.hidden_states(mel, frames, stop_layer=0)
            it.audios = [CachedAudio(states[0, : int(length[0])].detach(), len(it.audios[0]))]
    packed, plain = collate(packed_items), collate(plain_items)
    assert packed.input_ids.shape[0] == 3 and plain.input_ids.shape[0] == 7
    assert packed.attention_mask.sum() < plain.attention_mask.sum()  # the audio is there once
    assert packed.num_examples == plain.num_examples == 7 and packed.real_rows == [0, 1, 2]
    lp, sp, gp = _loss_and_grads(model, packed)
    lu, su, gu = _loss_and_grads(model, plain)
    assert lp.shape == lu.shape
    torch.testing.assert_close(lp, lu, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(sp, su, rtol=1e-5, atol=1e-5)
    assert gp.keys() == gu.keys()
    for name in gu:
        torch.testing.assert_close(gp[name], gu[name], rtol=1e-4, atol=1e-6, msg=name)


def test_examples_of_different_audios_are_never_packed(dataset: ManifestDataset) -> None:
    cfg = model_config(Recipe(), dataset.tokenizer)
    collate = Collator(dataset.tokenizer.pad_id, cfg.encoder.n_mels, cfg.encoder.length_rule)
    a, b = _clip_indices(dataset, 3)[0], _clip_indices(dataset, 4)[0]
    with pytest.raises(ValueError, match="cannot pack"):
        collate(_items(dataset, [a, b], unit=0))


def test_sampler_packs_each_audio_into_units_within_the_budget() -> None:
    rng = np.random.default_rng(0)
    n = 300
    groups = [f"clip{i // 4}" if i % 7 else None for i in range(n)]  # every 7th example stays alone
    shared = [60] * n
    lengths = (shared + rng.integers(5, 40, n)).tolist()
    tasks = ["asr"] * n
    kw = {"batch_tokens": 1200, "max_batch_size": 16, "seed": 5, "sort_window": 64}
    s = BucketBatchSampler(lengths, tasks, groups=groups, shared=shared, max_pack=3, **kw)
    units = s.epoch_units(0)
    flat = [i for b in units for u in b for i in u]
    assert sorted(flat) == list(range(n))  # every example once
    for batch in units:
        costs = [sum(lengths[i] for i in u) - 60 * (len(u) - 1) for u in batch]
        assert len(batch) * max(costs) <= kw["batch_tokens"] or len(batch) == 1
        for u in batch:
            assert len(u) <= 3 and len({groups[i] for i in u}) == 1
            assert len(u) == 1 or groups[u[0]] is not None
    assert sum(len(b) for b in units) < n * 0.6  # most rows carry several examples
    again = BucketBatchSampler(lengths, tasks, groups=groups, shared=shared, max_pack=3, **kw)
    assert again.epoch_units(0) == units and again.epoch_units(1) != units
    plain = BucketBatchSampler(lengths, tasks, **kw)
    assert all(len(u) == 1 for b in plain.epoch_units(0) for u in b)
    # two ranks split a batch by units: each unit's keys stay together on one rank
    batch = max(units, key=len)
    shards = [
        BucketBatchSampler(
            lengths, tasks, groups=groups, shared=shared, max_pack=3, rank=r, world_size=2, **kw
        ).shard(batch, 0, 0)
        for r in range(2)
    ]
    assert sorted(k.index for sh in shards for k in sh) == sorted(i for u in batch for i in u)
    for sh in shards:
        for k in sh:
            packed_with = [q.index for q in sh if q.unit == k.unit] if k.unit >= 0 else [k.index]
            assert tuple(packed_with) in batch


def test_packing_refuses_waveform_augmentation(dataset: ManifestDataset, corpus: Path) -> None:
    recipe = load_recipe(
        "tiny-test",
        [
            f"data.train=[{corpus / 'train.jsonl'}]",
            "data.pack_audio=true",
            "data.augment.prob=0.5",
            "data.augment.gain_db=[-3,3]",
        ],
    )
    augmented = ManifestDataset(
        [corpus / "train.jsonl"],
        dataset.tokenizer,
        style="qwen-audio",
        length_rule="floor",
        augment=augmentation(recipe),
    )
    with pytest.raises(ConfigError, match="pack_audio"):
        build_sampler(recipe, augmented, DistInfo(0, 1, 0, torch.device("cpu")), train=True)


def test_a_packed_run_trains_more_examples_per_row(corpus: Path, tmp_path: Path) -> None:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        overrides = [
            f"data.train=[{corpus / 'train.jsonl'}]",
            f"model.tokenizer={corpus / 'tokenizer'}",
            f"log.out_dir={tmp_path}",
            "data.pack_audio=true",
            "data.augment.prob=0",
            "train.cached_encoder_layers=1",
            "train.max_steps=4",
            "log.log_every=1",
            "log.save_every=0",
        ]
        result = train(load_recipe("tiny-test", overrides))
    finally:
        torch.set_num_threads(before)
    assert len(result.losses) == 4 and all(np.isfinite(result.losses))
    rows = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    steps = [r for r in rows if r["split"] == "train" and "samples" in r]
    assert steps and sum(r["samples"] for r in steps) > 0
