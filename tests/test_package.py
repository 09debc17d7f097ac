"""Packaging a trained model for shipping: float16 weights that load back as float32, with the
tokenizer, recipes and the Whisper licence beside them."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from auricle.api import load
from auricle.checkpoint import load_checkpoint
from auricle.demo import build_random_checkpoint
from auricle.errors import CheckpointError
from auricle.train.package import main


def test_package_writes_a_float16_model_that_loads_as_float32(tmp_path: Path) -> None:
    src = build_random_checkpoint(tmp_path / "src")
    recipe = tmp_path / "stage1.yaml"
    recipe.write_text("name: test\n")
    dst = tmp_path / "pkg"
    umask = os.umask(0o022)
    try:
        assert main([str(src), str(dst), "--recipe", str(recipe)]) == 0
    finally:
        os.umask(umask)
    assert (dst / "model.safetensors").stat().st_mode & 0o777 == 0o644  # not safetensors' owner-only
    assert (dst / "tokenizer.json").read_bytes() == (src / "tokenizer.json").read_bytes()
    names = {p.name for p in dst.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "LICENSE-whisper.txt", "README.md"} <= names
    assert (dst / "recipe-stage1.yaml").read_text() == "name: test\n"
    assert "MIT License" in (dst / "LICENSE-whisper.txt").read_text()
    assert json.loads((dst / "config.json").read_text())["dtype"] == "float16"
    want = load_checkpoint(src).model.state_dict()
    got = load_checkpoint(dst, device="cpu").model.state_dict()
    assert got.keys() == want.keys()
    for name, tensor in got.items():
        assert tensor.dtype == torch.float32  # auto dtype on a CPU
        assert torch.equal(tensor, want[name].half().float()), name
    model = load(str(dst), device="cpu", max_new_tokens=2)  # and the public API takes it
    assert model.caption(torch.zeros(16000).numpy()).text is not None


def test_package_names_recipes_by_their_stage(tmp_path: Path) -> None:
    src = build_random_checkpoint(tmp_path / "src")
    recipes = []
    for stage in ("1", "1b", "2"):
        recipes.append(tmp_path / f"r{stage}.yaml")
        recipes[-1].write_text(f"name: auricle-small-stage{stage}\n")
    dst = tmp_path / "pkg"
    assert main([str(src), str(dst), *(arg for r in recipes for arg in ("--recipe", str(r)))]) == 0
    assert (dst / "recipe-stage1b.yaml").read_text() == "name: auricle-small-stage1b\n"
    assert {p.name for p in dst.glob("recipe-*")} == {
        "recipe-stage1.yaml",
        "recipe-stage1b.yaml",
        "recipe-stage2.yaml",
    }
    assert "recipe-stage1.yaml, recipe-stage1b.yaml, recipe-stage2.yaml" in (dst / "README.md").read_text()


def test_package_refuses_two_recipes_with_one_name(tmp_path: Path) -> None:
    src = build_random_checkpoint(tmp_path / "src")
    recipe = tmp_path / "stage1.yaml"
    recipe.write_text("name: auricle-small-stage1\n")
    dst = tmp_path / "pkg"
    with pytest.raises(CheckpointError, match="one name"):
        main([str(src), str(dst), "--recipe", str(recipe), "--recipe", str(recipe)])
    assert not dst.exists()  # checked before anything is written
