"""`auricle eval layers`: linear probes of the encoder's layers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from auricle.data.manifest import Example, write_manifest
from auricle.errors import ConfigError
from auricle.eval.layers import linear_probe_accuracy, probe_layers
from auricle.model import AudioLM, preset


def _tone_manifest(root: Path, split: str, n: int, seed: int) -> Path:
    """Scene clips whose label is the pitch of a noisy tone: low (200-300 Hz) or high (2-3 kHz)."""
    rng = np.random.default_rng(seed)
    (root / "audio").mkdir(parents=True, exist_ok=True)
    t = np.arange(8000) / 16000
    examples = []
    for i in range(n):
        label = ("low", "high")[i % 2]
        f = rng.uniform(200, 300) if label == "low" else rng.uniform(2000, 3000)
        audio = 0.3 * np.sin(2 * np.pi * f * t) + 0.01 * rng.standard_normal(t.size)
        name = f"audio/{split}{i}.wav"
        sf.write(root / name, audio.astype(np.float32), 16000)
        examples.append(Example(id=f"{split}{i}", task="scene", audio=[name], label=label, split=split))
    path = root / f"{split}.jsonl"
    write_manifest(path, examples)
    return path


def test_a_label_the_audio_carries_is_read_from_the_front_end(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = AudioLM(preset("tiny-qwen-audio")).eval()
    train = _tone_manifest(tmp_path, "train", 24, seed=0)
    test = _tone_manifest(tmp_path, "test", 10, seed=1)
    [report] = probe_layers(model, train, test, ["scene"], train_clips=20, progress=False)
    assert (report.train_clips, report.test_clips, report.classes) == (20, 10, 2)
    assert len(report.accuracies) == model.cfg.encoder.n_layers + 1
    assert report.accuracies[0] == 1.0
    assert "| accuracy | 100.0 |" in report.to_markdown()


def test_targets_of_one_task_share_one_pass_through_the_encoder(tmp_path: Path, monkeypatch) -> None:
    from auricle.eval import layers

    torch.manual_seed(0)
    model = AudioLM(preset("tiny-qwen-audio")).eval()
    train = _tone_manifest(tmp_path, "train", 12, seed=0)
    test = _tone_manifest(tmp_path, "test", 4, seed=1)
    calls: list[int] = []
    features = layers.pooled_layer_features
    monkeypatch.setattr(
        layers,
        "pooled_layer_features",
        lambda m, paths, **kw: calls.append(len(paths)) or features(m, paths, **kw),
    )
    reports = layers.probe_layers(model, train, test, ["scene", "scene"], progress=False)
    assert calls == [12, 4] and reports[0] == reports[1]


def test_probe_accuracy_is_chance_on_noise_and_unseen_test_labels_are_errors() -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(200, 8, generator=gen)
    y = torch.randint(0, 2, (200,), generator=gen)
    assert 0.3 < linear_probe_accuracy(x[:150], y[:150], x[150:], y[150:], 2) < 0.7
    separable = torch.cat([torch.zeros(50), torch.ones(50)]).long()
    feats = separable[:, None].float() + 0.01 * torch.randn(100, 1, generator=gen)
    unseen = torch.full((100,), -1)
    assert linear_probe_accuracy(feats, separable, feats, separable, 2) == 1.0
    assert linear_probe_accuracy(feats, separable, feats, unseen, 2) == 0.0


def test_unknown_target_and_missing_task_are_clear_errors(tmp_path: Path) -> None:
    model = AudioLM(preset("tiny-qwen-audio")).eval()
    train = _tone_manifest(tmp_path, "train", 2, seed=0)
    with pytest.raises(ConfigError, match="unknown probe target"):
        probe_layers(model, train, train, ["timbre"], progress=False)
    with pytest.raises(ConfigError, match="'vocal' examples"):
        probe_layers(model, train, train, ["voice"], progress=False)


def test_cli_prints_one_table_per_target(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    import argparse

    from auricle.demo import build_random_checkpoint
    from auricle.eval.cli import register

    ckpt = build_random_checkpoint(tmp_path / "ckpt")
    train = _tone_manifest(tmp_path, "train", 12, seed=0)
    test = _tone_manifest(tmp_path, "test", 4, seed=1)
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    argv = ["eval", "layers", str(ckpt), "--train", str(train), "--test", str(test), "--target", "scene"]
    args = parser.parse_args([*argv, "--device", "cpu", "--no-progress"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert out.startswith("scene: 2 classes, 12 training / 4 test clips") and "| accuracy |" in out
    args = parser.parse_args([*argv[:-1], "pitch", "--device", "cpu"])
    with pytest.raises(ConfigError, match="unknown probe target"):
        args.func(args)
