"""Peak memory of loading a sharded checkpoint, measured in a child process.

A ~300 MB fp32 checkpoint is written here; each child measures its resident memory after imports,
loads, touches every parameter page, and reports its peak RSS. A naive load (read every shard into
memory, then copy into an initialised model) is measured too, to show the measurement tells them apart.

The peak is the kernel's ``VmHWM`` of the child. ``getrusage().ru_maxrss`` is not used: Linux keeps it
across ``fork``/``exec``, so a child of a big pytest process starts with the parent's peak.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from auricle.checkpoint import save_checkpoint
from auricle.model import AudioLM, preset

REPO = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, resource, sys
import torch
from safetensors.torch import load_file
from auricle.checkpoint import load_checkpoint
from auricle.model import AudioLM, AudioLMConfig

def rss():
    return int(open("/proc/self/statm").read().split()[1]) * resource.getpagesize()

def peak_rss():  # high-water mark of this process image (ru_maxrss survives exec: see module docstring)
    line = next(l for l in open("/proc/self/status") if l.startswith("VmHWM:"))
    return int(line.split()[1]) * 1024

folder, mode = sys.argv[1], sys.argv[2]
torch.set_grad_enabled(False)
with torch.device("meta"):  # torch's one-time set-up of meta tensors (~80 MB, any model size) is not loading
    torch.nn.Embedding(2, 2)
base = rss()
if mode == "naive":
    cfg = json.load(open(folder + "/config.json"))
    model = AudioLM(AudioLMConfig.from_dict({k: v for k, v in cfg.items() if k not in ("format", "format_version", "dtype")}))
    state = {}
    for f in sorted(__import__("glob").glob(folder + "/model-*.safetensors")):
        state.update({k: v.clone() for k, v in load_file(f).items()})
    model.load_state_dict(state)
else:
    model = load_checkpoint(folder, dtype=mode).model
touched = sum(float(p.sum()) for p in model.parameters())  # every page of every weight is resident now
peak = peak_rss()
weights = sum(p.numel() * p.element_size() for p in model.parameters())
print(json.dumps({"base": base, "peak": peak, "weights": weights}))
"""


def measure(folder: Path, mode: str) -> dict:
    run = subprocess.run(
        [sys.executable, "-c", CHILD, str(folder), mode], capture_output=True, text=True, cwd=REPO, check=True
    )
    out = json.loads(run.stdout.strip().splitlines()[-1])
    out["delta"] = out["peak"] - out["base"]
    return out


@pytest.fixture(scope="module")
def big_checkpoint(tmp_path_factory):
    cfg = preset("tiny-qwen2-audio")
    text = dataclasses.replace(
        cfg.text, vocab_size=140_000, hidden_size=256, n_layers=4, intermediate_size=1024
    )
    torch.manual_seed(0)
    model = AudioLM(cfg.replace(text=text))
    folder = save_checkpoint(model, tmp_path_factory.mktemp("big"), shard_size="64MB")
    files = sorted(folder.glob("model-*.safetensors"))
    assert len(files) >= 3
    sizes = [f.stat().st_size for f in files]
    return folder, sum(sizes), max(sizes)


def test_peak_rss_of_lazy_load_is_about_one_copy(big_checkpoint):
    folder, total, largest = big_checkpoint
    assert total > 250e6
    same = measure(folder, "float32")
    assert same["weights"] == pytest.approx(total, rel=0.01)
    assert same["delta"] <= 1.3 * same["weights"], same
    # casting holds the new weights plus, at most, the file pages of the shard being read
    cast = measure(folder, "bfloat16")
    assert cast["delta"] <= 1.1 * (cast["weights"] + largest), cast
    naive = measure(folder, "naive")
    for name, m in (("float32", same), ("bfloat16", cast), ("naive", naive)):
        print(f"{name}: weights {m['weights'] / 1e6:.0f} MB, peak - base {m['delta'] / 1e6:.0f} MB")
    assert naive["delta"] >= 1.8 * naive["weights"], naive  # the naive way really costs two copies
