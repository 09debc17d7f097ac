"""Linear probes of the audio encoder's layers: how much of a label each layer's states still hold.

For every clip the states after the conv front end (layer 0) and after each block are averaged and
their standard deviation taken over the clip's frames; a softmax regression per layer, fitted on
training clips, is scored on test clips. A layer where a simple probe reads the label well is one
whose states carry it, which is what ``encoder.tap_layers`` is chosen by (docs/architecture.md).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

from auricle.audio.features import audio_token_count, log_mel
from auricle.audio.io import load_audio
from auricle.data.manifest import Example
from auricle.errors import ConfigError
from auricle.eval.synthetic import load_examples, resolve_audio_path
from auricle.model.audiolm import AudioLM

TARGETS: dict[str, tuple[str, Callable[[Example], object]]] = {
    # name: (task whose examples are probed, label of one example)
    "voice": ("vocal", lambda ex: ex.label),
    "prosody": ("emotion", lambda ex: ex.label),
    "scene": ("scene", lambda ex: ex.label),
    "language": ("lid", lambda ex: ex.language),
    "note-pitch-class": ("note_analysis", lambda ex: ex.note["pitch"] % 12),
    "note-instrument": ("note_analysis", lambda ex: ex.note["instrument"]),
}


@dataclass
class LayerProbeReport:
    """Test accuracy of a linear probe after each number of blocks (index 0: the conv front end)."""

    target: str
    train_clips: int
    test_clips: int
    classes: int
    accuracies: list[float]

    def to_markdown(self) -> str:
        """A two-row table: layer and test accuracy (%)."""
        head = "| layer | " + " | ".join(str(i) for i in range(len(self.accuracies))) + " |"
        rule = "|---|" + "---|" * len(self.accuracies)
        row = "| accuracy | " + " | ".join(f"{100 * a:.1f}" for a in self.accuracies) + " |"
        note = (
            f"{self.target}: {self.classes} classes, {self.train_clips} training / {self.test_clips} "
            "test clips; layer 0 is the conv front end, layer k the output of block k"
        )
        return f"{note}\n\n{head}\n{rule}\n{row}\n"


@torch.no_grad()
def pooled_layer_features(
    model: AudioLM, paths: Sequence[str | Path], *, batch_size: int = 8, progress: bool = True
) -> torch.Tensor:
    """[N, n_layers + 1, 2·d_model]: per clip and layer, the mean and standard deviation over frames."""
    enc = model.encoder
    cfg = enc.cfg
    device = next(model.parameters()).device
    out: list[torch.Tensor] = []
    for start in tqdm(range(0, len(paths), batch_size), disable=not progress, desc="encoder layers"):
        audios = [load_audio(p) for p in paths[start : start + batch_size]]
        mel = log_mel(audios, cfg.n_mels, device=device)
        frames = audio_token_count(mel.num_samples, cfg.length_rule).mel_frames.to(device)
        x, conv_len = enc.hidden_states(mel.features.float(), frames, stop_layer=0)
        layers = [x]
        for k in range(cfg.n_layers):
            x = enc.run_blocks(x, conv_len, k, k + 1)[..., : cfg.d_model]  # without taps
            layers.append(x)
        for b, c in enumerate(conv_len.tolist()):
            per_layer = [torch.cat([h[b, :c].mean(0), h[b, :c].std(0)]) for h in layers]
            out.append(torch.stack(per_layer).float().cpu())
    return torch.stack(out)


def linear_probe_accuracy(
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    x_test: torch.Tensor,
    y_test: torch.Tensor,
    classes: int,
    *,
    weight_decay: float = 1e-3,
    max_iter: int = 300,
) -> float:
    """Fit an L2-regularised softmax regression (L-BFGS, standardised features); test accuracy."""
    mean, std = x_train.mean(0), x_train.std(0) + 1e-5
    x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
    weight = torch.zeros(x_train.shape[1], classes, requires_grad=True)
    bias = torch.zeros(classes, requires_grad=True)
    opt = torch.optim.LBFGS([weight, bias], max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = F.cross_entropy(x_train @ weight + bias, y_train) + weight_decay * weight.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        return float(((x_test @ weight + bias).argmax(-1) == y_test).float().mean())


def check_targets(targets: Sequence[str]) -> None:
    """Raise :class:`ConfigError` naming the targets that are not keys of :data:`TARGETS`."""
    unknown = [t for t in targets if t not in TARGETS]
    if unknown:
        raise ConfigError(f"unknown probe target(s) {unknown}; choose from {sorted(TARGETS)}")


def probe_layers(
    model: AudioLM,
    train_manifest: str | Path,
    test_manifest: str | Path,
    targets: Sequence[str],
    *,
    train_clips: int = 1200,
    seed: int = 0,
    progress: bool = True,
) -> list[LayerProbeReport]:
    """Probe every encoder layer for each of ``targets`` (keys of :data:`TARGETS`); one report each.

    ``train_clips`` examples of a target's task are drawn from ``train_manifest`` with ``seed``;
    every such example of ``test_manifest`` is scored. Test labels never seen in training count as
    errors. Each manifest is read once, and the clips of one task go through the encoder once
    however many of its targets are probed.
    """
    check_targets(targets)
    train_all, test_all = load_examples(train_manifest), load_examples(test_manifest)
    by_task: dict[str, tuple[list[Example], list[Example], torch.Tensor, torch.Tensor]] = {}
    reports = []
    for target in targets:
        task, label_of = TARGETS[target]
        if task not in by_task:
            train = [ex for ex in train_all if ex.task == task]
            test = [ex for ex in test_all if ex.task == task]
            if not train or not test:
                raise ConfigError(f"probe {target!r} needs {task!r} examples in both manifests")
            random.Random(seed).shuffle(train)
            train = train[:train_clips]
            x_train, x_test = (
                pooled_layer_features(
                    model, [resolve_audio_path(Path(m), ex.audio[0]) for ex in exs], progress=progress
                )
                for m, exs in ((train_manifest, train), (test_manifest, test))
            )
            by_task[task] = (train, test, x_train, x_test)
        train, test, x_train, x_test = by_task[task]
        labels = sorted({str(label_of(ex)) for ex in train})
        index = {label: i for i, label in enumerate(labels)}
        y_train = torch.tensor([index[str(label_of(ex))] for ex in train])
        y_test = torch.tensor([index.get(str(label_of(ex)), -1) for ex in test])
        accuracies = [
            linear_probe_accuracy(x_train[:, k], y_train, x_test[:, k], y_test, len(labels))
            for k in range(x_train.shape[1])
        ]
        reports.append(LayerProbeReport(target, len(train), len(test), len(labels), accuracies))
    return reports
