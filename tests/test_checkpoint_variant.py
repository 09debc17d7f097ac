"""Chat variants (the tensors chat fine-tuning changed, loaded beside their base model) and checkpoint
averages."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from auricle.api import load
from auricle.checkpoint import load_checkpoint, save_checkpoint
from auricle.checkpoint.average import average_checkpoints
from auricle.checkpoint.info import checkpoint_info, format_info
from auricle.checkpoint.save import model_state
from auricle.checkpoint.variant import changed_tensors, is_variant, load_variant, save_variant
from auricle.cli import main as cli_main
from auricle.demo import build_random_checkpoint
from auricle.errors import CheckpointError
from auricle.generate import GenerationConfig
from auricle.model import AudioLM
from auricle.train.package import main as package_main


def _tuned_copy(src: Path, dst: Path, prefix: str = "text.", seed: int = 1) -> Path:
    """``src`` with every tensor under ``prefix`` moved a little (a stand-in for fine-tuning)."""
    model = load_checkpoint(src, dtype="float32").model
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in model_state(model).items():
            if name.startswith(prefix):
                t.add_(torch.randn(t.shape, generator=gen) * 0.5)
    save_checkpoint(model, dst, tokenizer_folder=src)
    return dst


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A tiny base model with tied embeddings (as auricle-small) and a copy with its decoder moved."""
    root = tmp_path_factory.mktemp("variant")
    random = build_random_checkpoint(root / "random")
    cfg = load_checkpoint(random).config
    torch.manual_seed(0)
    tied = AudioLM(cfg.replace(text=dataclasses.replace(cfg.text, tie_embeddings=True)))
    base = save_checkpoint(tied, root / "base", tokenizer_folder=random)
    return base, _tuned_copy(base, root / "tuned")


def test_variant_stores_only_what_changed_and_shares_the_rest(
    pair: tuple[Path, Path], tmp_path: Path
) -> None:
    base = load_checkpoint(pair[0], dtype="float32").model
    tuned = load_checkpoint(pair[1], dtype="float32").model
    before = {n: t.clone() for n, t in model_state(base).items()}
    folder = save_variant(base, tuned, tmp_path / "chat")
    assert is_variant(folder) and not is_variant(pair[0])
    stored = json.loads((folder / "variant.json").read_text())["tensors"]
    assert stored and all(n.startswith("text.") for n in stored)
    assert set(stored) == set(changed_tensors(base, tuned))
    variant = load_variant(base, folder)
    assert variant.encoder is base.encoder and variant.projector is base.projector  # shared, not copied
    assert variant.text is not base.text
    assert variant.lm_head.weight is variant.text.embed.weight  # the tie follows the new embedding
    want = model_state(tuned)
    for name, t in model_state(variant).items():
        expected = want[name].half().float() if name in stored else before[name]
        assert torch.equal(t, expected), name
    for name, t in model_state(base).items():  # the base is untouched
        assert torch.equal(t, before[name]), name


def test_variant_refuses_what_does_not_fit(pair: tuple[Path, Path], tmp_path: Path) -> None:
    base = load_checkpoint(pair[0], dtype="float32").model
    with pytest.raises(CheckpointError, match="identical"):
        save_variant(base, load_checkpoint(pair[0], dtype="float32").model, tmp_path / "same")
    folder = save_variant(base, load_checkpoint(pair[1], dtype="float32").model, tmp_path / "chat")
    other = load_checkpoint(build_random_checkpoint(tmp_path / "v2", style="qwen2-audio"), dtype="float32")
    with pytest.raises(CheckpointError, match="configs"):
        changed_tensors(base, other.model)
    with pytest.raises(CheckpointError):
        load_variant(other.model, folder)  # other names or shapes
    meta = json.loads((folder / "variant.json").read_text())
    (folder / "variant.json").write_text(json.dumps({**meta, "format_version": 99}))
    with pytest.raises(CheckpointError, match="format version"):
        load_variant(base, folder)


def _chat_text(model, audio: np.ndarray) -> str:
    session = model.chat(generation=GenerationConfig(max_new_tokens=6))
    return session.send("What is in this recording?", audios=[audio]).text


def test_a_packaged_chat_variant_answers_chats_and_the_base_the_tasks(
    pair: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base, tuned = pair
    pkg, alone = tmp_path / "pkg", tmp_path / "alone"
    assert package_main([str(base), str(pkg), "--chat", str(tuned)]) == 0
    assert package_main([str(tuned), str(alone)]) == 0
    assert "Qwen-Audio-Chat" in (pkg / "README.md").read_text()
    model = load(str(pkg), device="cpu", max_new_tokens=4)
    assert model.chat_engine is not model.engine
    assert model.chat_engine.model.encoder is model.engine.model.encoder
    audio = np.random.default_rng(0).standard_normal(16000).astype(np.float32) * 0.1
    # chats answer exactly as the fine-tuned model packaged alone; tasks as the base alone
    only_base = load(str(base), device="cpu", max_new_tokens=4)
    assert only_base.chat_engine is only_base.engine  # no variant: one model does both
    tuned_reply = _chat_text(load(str(alone), device="cpu"), audio)
    assert tuned_reply != _chat_text(only_base, audio)  # the two models answer differently ...
    assert _chat_text(model, audio) == tuned_reply  # ... and the package's chat is the tuned one
    base16 = load_checkpoint(pkg, dtype="float32").model
    assert all(
        torch.equal(a, b)
        for a, b in zip(model.engine.model.state_dict().values(), base16.state_dict().values())
    )
    info = checkpoint_info(pkg)  # auricle info reports the variant; auricle convert says it is left out
    n_text = sum(t.numel() for n, t in model_state(base16).items() if n.startswith("text."))
    assert info.chat_variant is not None and info.chat_variant["parameters"] == n_text
    assert "chat        variant in chat/" in format_info(info) and checkpoint_info(base).chat_variant is None
    assert cli_main(["convert", str(pkg), str(tmp_path / "converted"), "--to", "auricle"]) == 0
    assert "chat variant) is not converted" in capsys.readouterr().err
    chat_format = load(str(pkg), device="cpu", task_format="chat")
    assert chat_format.task_engine is chat_format.chat_engine  # ChatML task prompts go to the chat model
    assert model.task_engine is model.engine


def test_package_refuses_a_chat_model_with_another_tokenizer(pair: tuple[Path, Path], tmp_path: Path) -> None:
    other = build_random_checkpoint(tmp_path / "other")
    (other / "tokenizer.json").write_text(
        (other / "tokenizer.json").read_text().replace('"<|endoftext|>"', '"<|x|>"', 1)
    )
    with pytest.raises(CheckpointError, match="tokenizer"):
        package_main([str(pair[0]), str(tmp_path / "pkg"), "--chat", str(other)])
    assert not (tmp_path / "pkg").exists()


def test_average_is_the_weighted_mean_of_every_tensor(pair: tuple[Path, Path], tmp_path: Path) -> None:
    out = average_checkpoints(pair, tmp_path / "soup", weights=[1, 3])
    a, b = (model_state(load_checkpoint(p, dtype="float32").model) for p in pair)
    got = model_state(load_checkpoint(out, dtype="float32").model)
    assert got.keys() == a.keys()
    for name, t in got.items():
        torch.testing.assert_close(t, 0.25 * a[name] + 0.75 * b[name], rtol=0, atol=1e-6)
    assert (out / "tokenizer.json").read_bytes() == (pair[0] / "tokenizer.json").read_bytes()
    assert cli_main(["average", str(pair[0]), str(pair[1]), "--out", str(tmp_path / "even")]) == 0
    even = model_state(load_checkpoint(tmp_path / "even", dtype="float32").model)
    torch.testing.assert_close(
        even["text.embed.weight"], (a["text.embed.weight"] + b["text.embed.weight"]) / 2
    )


def test_average_refuses_bad_inputs(pair: tuple[Path, Path], tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="at least two"):
        average_checkpoints(pair[:1], tmp_path / "x")
    with pytest.raises(CheckpointError, match="weights"):
        average_checkpoints(pair, tmp_path / "x", weights=[1.0])
    with pytest.raises(CheckpointError, match="non-negative"):
        average_checkpoints(pair, tmp_path / "x", weights=[1.0, -1.0])
    with pytest.raises(CheckpointError, match="one of the inputs"):
        average_checkpoints(pair, pair[1])
    other = build_random_checkpoint(tmp_path / "v2", style="qwen2-audio")
    with pytest.raises(CheckpointError, match="architecture"):
        average_checkpoints([pair[0], other], tmp_path / "x")
