"""Training stages (SFT, reward model, RSF, DPO, PPO) on a tiny world and a tiny model.

Everything here is local: a small toy world from alignment_tax.toy_world, a BPE tokenizer
trained on it, and a randomly initialised 2-layer LlamaForCausalLM. The tests check the
plumbing (data formats, outputs, resume), not model quality; the quality checks are the
measured toy-config run reported in the README / benchmarks.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("trl")

from alignment_tax.io import read_jsonl  # noqa: E402
from alignment_tax.training_common import (  # noqa: E402
    batch_layout,
    last_checkpoint,
    read_preference_pairs,
    sharegpt_to_prompt_completion,
    split_heldout,
    split_hh,
)

REPO = Path(__file__).resolve().parents[1]

SMALL_WORLD = {
    "n_pretrain_docs": 200,
    "n_sharegpt": 60,
    "n_preference_pairs": 40,
    "n_preference_test_pairs": 16,
    "n_rlhf_train_prompts": 24,
    "n_eval_prompts": 8,
    "n_benchmark_items": 10,
}
SFT = dict(
    epochs=1,
    lr=1e-3,
    batch_size=8,
    max_length=128,
    warmup_ratio=0.0,
    scheduler="cosine",
    save_steps=2,
)
RM = dict(
    sft_epochs=1,
    sft_lr=1e-3,
    epochs=1,
    lr=1e-3,
    batch_size=8,
    max_length=128,
    heldout_fraction=0.2,
    save_steps=2,
)
RSF = dict(
    iterations=2,
    prompts_per_iteration=8,
    n_samples=3,
    epochs=1,
    lr=1e-3,
    batch_size=4,
    max_new_tokens=10,
    temperature=1.0,
    save_steps=1,
    scheduler="constant",
)
DPO = dict(lr=1e-4, batch_size=8, epochs=1, eval_every_epochs=0.5, max_length=128)
PPO = dict(
    lr=1e-4,
    batch_size=8,
    mini_batch_size=4,
    update_epochs=1,
    total_episodes=24,
    reward_baseline=0.0,
    warmup_sft_epochs=1,
    warmup_lr=1e-3,
    save_every_updates=2,
)


def make_tiny_setup(root: Path) -> tuple[Path, Path]:
    """(data dir, base model dir) of a tiny world; reused if already there."""
    from alignment_tax.tokenizer_training import corpus_texts, train_tokenizer
    from alignment_tax.toy_world import generate_toy_world
    from conftest import tiny_llama

    data, base = root / "data", root / "base"
    if not (data / "sharegpt.json").exists():
        generate_toy_world(data, 1, SMALL_WORLD)
    if not (base / "config.json").exists():
        tok = train_tokenizer(corpus_texts(data / "pretrain.jsonl", data / "sharegpt.json"), 600)
        tiny_llama(tok).save_pretrained(base)
        tok.save_pretrained(base)
    return data, base


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("tiny_training")
    data, base = make_tiny_setup(root)
    return root, data, base


@pytest.fixture(scope="module")
def trained(tiny):
    """theta0 and the reward model of the tiny world (shared by the RLHF tests)."""
    from alignment_tax.reward_model import train_reward_model
    from alignment_tax.sft import train_sft

    root, data, base = tiny
    sft = root / "models" / "sft"
    train_sft(base, data / "sharegpt.json", sft, root / "work" / "sft", SFT, seed=1)
    rm = root / "models" / "reward_model"
    metrics = train_reward_model(
        base,
        data / "hh_rlhf/train.jsonl",
        data / "hh_rlhf/test.jsonl",
        rm,
        root / "work" / "rm",
        RM,
        seed=1,
        test_truth_path=data / "hh_rlhf/test_truth.jsonl",
    )
    return root, data, sft, rm, metrics


# ----------------------------------------------------------------------------- data


def test_split_hh_keeps_the_last_assistant_turn():
    text = "\n\nHuman: hi\n\nAssistant: hello\n\nHuman: what ?\n\nAssistant: that ."
    prompt, response = split_hh(text)
    assert prompt == "\n\nHuman: hi\n\nAssistant: hello\n\nHuman: what ?\n\nAssistant:"
    assert response == " that ."
    with pytest.raises(ValueError, match="Assistant"):
        split_hh("no turns here")


def test_sharegpt_rows_one_per_assistant_turn(tmp_path):
    path = tmp_path / "s.json"
    path.write_text(
        json.dumps(
            [
                {
                    "id": "a",
                    "conversations": [
                        {"from": "human", "value": "q1"},
                        {"from": "gpt", "value": "a1"},
                        {"from": "human", "value": "q2"},
                        {"from": "gpt", "value": "a2"},
                    ],
                }
            ]
        )
    )
    rows = sharegpt_to_prompt_completion(path)
    assert rows == [
        {"prompt": "\n\nHuman: q1\n\nAssistant:", "completion": " a1"},
        {
            "prompt": "\n\nHuman: q1\n\nAssistant: a1\n\nHuman: q2\n\nAssistant:",
            "completion": " a2",
        },
    ]
    with pytest.raises(FileNotFoundError, match="ShareGPT"):
        sharegpt_to_prompt_completion(tmp_path / "missing.json")


def test_preference_pairs_and_split(tiny):
    _, data, _ = tiny
    pairs = read_preference_pairs(data / "hh_rlhf/train.jsonl")
    assert all(p["prompt"].endswith("\n\nAssistant:") for p in pairs)
    assert all(p["chosen"] != p["rejected"] for p in pairs)
    train, held = split_heldout(pairs, 0.2, seed=1)
    assert len(held) == 8 and len(train) + len(held) == len(pairs)
    assert split_heldout(pairs, 0.2, seed=1) == (train, held)


def test_batch_layout():
    assert batch_layout(32, None) == (32, 1)
    assert batch_layout(32, 8) == (8, 4)
    with pytest.raises(ValueError, match="multiple"):
        batch_layout(30, 8)


def test_last_checkpoint_skips_incomplete(tmp_path):
    good = tmp_path / "checkpoint-2"
    good.mkdir()
    (good / "trainer_state.json").write_text("{}")
    (good / "model.safetensors").write_text("x")
    bad = tmp_path / "checkpoint-4"
    bad.mkdir()
    (bad / "model.safetensors").write_text("x")  # killed before trainer_state.json
    assert last_checkpoint(tmp_path) == str(good)
    assert not bad.exists()


# ----------------------------------------------------------------------------- stages


def test_sft_and_reward_model_outputs(trained):
    root, data, sft, rm, metrics = trained
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

    assert (sft / "model.safetensors").exists() and (sft / "tokenizer_config.json").exists()
    AutoModelForCausalLM.from_pretrained(sft)
    model = AutoModelForSequenceClassification.from_pretrained(rm)
    assert model.config.num_labels == 1
    saved = json.loads((rm / "metrics.json").read_text())
    assert saved == json.loads(json.dumps(metrics))
    assert 0 <= saved["test_accuracy"] <= 1 and saved["n_test_pairs"] == 16
    assert "pair_agreement" in saved["hidden_reward"]
    assert not (root / "work" / "sft").exists(), "work folder is removed after success"


def test_score_texts_reads_what_reward_trainer_trained_on(trained):
    """score_texts must tokenise prompt+response exactly as RewardTrainer did (EOS added)."""
    from alignment_tax.reward_scoring import score_texts
    from alignment_tax.training_common import load_reward_model
    from datasets import Dataset
    from transformers import AutoTokenizer
    from trl import RewardConfig, RewardTrainer

    root, data, _, rm_dir, _ = trained
    tok = AutoTokenizer.from_pretrained(rm_dir)
    rm = load_reward_model(rm_dir, pad_token_id=tok.pad_token_id)
    pairs = read_preference_pairs(data / "hh_rlhf/test.jsonl")[:4]
    trainer = RewardTrainer(
        model=rm,
        args=RewardConfig(output_dir=str(root / "rt"), report_to="none", bf16=False),
        train_dataset=Dataset.from_list(pairs),
        processing_class=tok,
    )
    rm.eval()
    for pair, row in zip(pairs, trainer.train_dataset, strict=True):
        assert row["chosen_ids"][-1] == tok.eos_token_id
        direct = rm(input_ids=torch.tensor([row["chosen_ids"]])).logits[0, 0].item()
        ours = score_texts(rm, tok, [pair["prompt"]], [pair["chosen"]], batch_size=2)[0]
        assert ours == pytest.approx(direct, abs=1e-5)


def test_rsf_outputs(trained):
    from alignment_tax.rsf import train_rsf

    root, data, sft, rm, _ = trained
    out = root / "models" / "rlhf" / "rsf"
    metrics = train_rsf(
        sft, rm, data / "prompts/rlhf_train.jsonl", out, root / "work" / "rsf", RSF, seed=1
    )
    assert len(metrics["iterations"]) == 2
    for i in range(3):
        assert (out / f"iter_{i}" / "config.json").exists()
    assert (out / "model.safetensors").exists()
    pool = read_jsonl(out / "pool.jsonl")
    assert len(pool) == 2 * 8
    assert {"iteration", "prompt", "response", "reward", "meta"} <= set(pool[0])
    assert not (root / "work" / "rsf").exists()


def test_dpo_selects_checkpoint_by_eval_loss(trained):
    from alignment_tax.dpo import train_dpo

    root, data, sft, _, _ = trained
    out = root / "models" / "rlhf" / "dpo"
    metrics = train_dpo(
        sft,
        data / "hh_rlhf/train.jsonl",
        out,
        root / "work" / "dpo",
        DPO,
        beta=0.1,
        heldout_fraction=0.2,
        seed=1,
    )
    evals = metrics["evaluations"]
    assert len(evals) == 2  # every half epoch
    assert metrics["selected"]["eval_loss"] == min(e["eval_loss"] for e in evals)
    assert (out / "model.safetensors").exists() and (out / "dpo_metrics.json").exists()


def test_ppo_runs_in_segments(trained):
    from alignment_tax.ppo import train_ppo, train_ppo_warmup

    root, data, sft, rm, _ = trained
    warm = root / "models" / "rlhf" / "ppo_warmup"
    train_ppo_warmup(
        sft,
        data / "hh_rlhf/train.jsonl",
        warm,
        root / "work" / "ppo_warmup",
        PPO,
        heldout_fraction=0.2,
        seed=1,
    )
    out = root / "models" / "rlhf" / "ppo"
    metrics = train_ppo(
        warm,
        rm,
        data / "prompts/rlhf_train.jsonl",
        out,
        root / "work" / "ppo",
        PPO,
        kl_coef=0.1,
        max_new_tokens=8,
        temperature=1.0,
        seed=1,
    )
    assert metrics["updates"] == 3 and metrics["segments"] == 2
    assert any("objective/scores" in r for r in metrics["log"])
    assert (out / "model.safetensors").exists() and (out / "ppo_metrics.json").exists()


# ----------------------------------------------------------------------------- resume

_RUNNER = """
import sys, json, logging, torch
logging.basicConfig(level=logging.INFO)
sys.path.insert(0, {scripts!r})
torch.set_num_threads(1)
from alignment_tax.{module} import {func}
{func}(**json.loads({kwargs!r}))
"""


def _run(module, func, kwargs, *, kill_when=None, timeout=300):
    """Run a stage in a subprocess; with kill_when, SIGKILL it as soon as kill_when() holds."""
    code = _RUNNER.format(
        scripts=str(REPO / "workflow_scripts"), module=module, func=func, kwargs=json.dumps(kwargs)
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=dict(os.environ, OMP_NUM_THREADS="1"),
    )
    if kill_when is None:
        out, _ = proc.communicate(timeout=timeout)
        assert proc.returncode == 0, out[-3000:]
        return out
    deadline = time.time() + timeout
    while not kill_when():
        if proc.poll() is not None:
            raise AssertionError(
                "the job ended before it could be killed:\n" + proc.stdout.read()[-3000:]
            )
        if time.time() > deadline:
            proc.kill()
            raise AssertionError("kill condition never met")
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return None


def _weights(model_dir):
    from safetensors.torch import load_file

    return load_file(str(Path(model_dir) / "model.safetensors"))


def _assert_same_weights(a, b):
    wa, wb = _weights(a), _weights(b)
    assert wa.keys() == wb.keys()
    for key in wa:
        assert torch.allclose(wa[key], wb[key], atol=1e-6), key


@pytest.mark.slow
def test_rsf_resumes_after_sigkill(trained, tmp_path):
    """Kill RSF after its first iteration is saved: the rerun keeps that iteration and
    ends with the same model as an uninterrupted run."""
    root, data, sft, rm, _ = trained
    kwargs = dict(
        sft_dir=str(sft),
        reward_model_dir=str(rm),
        prompts_path=str(data / "prompts/rlhf_train.jsonl"),
        params=RSF,
        seed=1,
    )
    ref_out = tmp_path / "ref"
    _run(
        "rsf", "train_rsf", dict(kwargs, out_dir=str(ref_out), work_dir=str(tmp_path / "ref_work"))
    )

    out, work = tmp_path / "resumed", tmp_path / "work"
    iter1 = work / "iter_1" / "final" / "config.json"
    _run(
        "rsf",
        "train_rsf",
        dict(kwargs, out_dir=str(out), work_dir=str(work)),
        kill_when=iter1.exists,
    )
    assert not out.exists(), "a killed job leaves no output"
    saved = (iter1.stat().st_mtime_ns, (work / "samples_1.jsonl").read_text())
    log = _run("rsf", "train_rsf", dict(kwargs, out_dir=str(out), work_dir=str(work)))
    assert "phase iter_1 already done" in log
    assert (out / "iter_1" / "config.json").stat().st_mtime_ns == saved[0], (
        "iteration 1 was not retrained"
    )
    assert read_jsonl(out / "pool.jsonl") == read_jsonl(ref_out / "pool.jsonl")
    _assert_same_weights(out, ref_out)
    for i in (1, 2):
        _assert_same_weights(out / f"iter_{i}", ref_out / f"iter_{i}")


@pytest.mark.slow
def test_sft_resumes_from_trainer_checkpoint_after_sigkill(tiny, tmp_path):
    """Kill SFT mid-epoch once a Trainer checkpoint exists: the rerun resumes from it
    (not from step 0) and ends with the same weights as an uninterrupted run."""
    _, data, base = tiny
    params = dict(SFT, epochs=2, save_steps=3)
    kwargs = dict(
        base_dir=str(base), sharegpt_path=str(data / "sharegpt.json"), params=params, seed=1
    )
    ref_out = tmp_path / "ref"
    _run(
        "sft", "train_sft", dict(kwargs, out_dir=str(ref_out), work_dir=str(tmp_path / "ref_work"))
    )

    out, work = tmp_path / "out", tmp_path / "work"
    ckpts = work / "sharegpt" / "checkpoints"

    def has_checkpoint():
        return (
            any((c / "trainer_state.json").exists() for c in ckpts.glob("checkpoint-*"))
            if ckpts.exists()
            else False
        )

    _run(
        "sft",
        "train_sft",
        dict(kwargs, out_dir=str(out), work_dir=str(work)),
        kill_when=has_checkpoint,
    )
    resumed_from = last_checkpoint(ckpts)
    assert resumed_from is not None
    log = _run("sft", "train_sft", dict(kwargs, out_dir=str(out), work_dir=str(work)))
    assert "resumes from" in log
    _assert_same_weights(out, ref_out)


@pytest.mark.slow
def test_ppo_resumes_after_sigkill(trained, tmp_path):
    """Kill PPO after its first segment: the rerun continues with the second segment and
    ends with the same policy as an uninterrupted run."""
    from alignment_tax.ppo import train_ppo_warmup

    root, data, sft, rm, _ = trained
    warm = tmp_path / "warm"
    train_ppo_warmup(
        sft,
        data / "hh_rlhf/train.jsonl",
        warm,
        tmp_path / "warm_work",
        PPO,
        heldout_fraction=0.2,
        seed=1,
    )
    kwargs = dict(
        warmup_dir=str(warm),
        reward_model_dir=str(rm),
        prompts_path=str(data / "prompts/rlhf_train.jsonl"),
        params=PPO,
        kl_coef=0.1,
        max_new_tokens=8,
        temperature=1.0,
        seed=1,
    )
    ref_out = tmp_path / "ref"
    _run(
        "ppo", "train_ppo", dict(kwargs, out_dir=str(ref_out), work_dir=str(tmp_path / "ref_work"))
    )
    out, work = tmp_path / "out", tmp_path / "work"
    seg0 = work / "segment_0" / "done.json"
    _run(
        "ppo",
        "train_ppo",
        dict(kwargs, out_dir=str(out), work_dir=str(work)),
        kill_when=seg0.exists,
    )
    _run("ppo", "train_ppo", dict(kwargs, out_dir=str(out), work_dir=str(work)))
    _assert_same_weights(out, ref_out)


def test_work_dir_of_another_run_is_not_resumed(tmp_path):
    from alignment_tax.training_common import prepare_work_dir

    work = prepare_work_dir(tmp_path / "w", {"lr": 1e-3})
    (work / "checkpoint-3").mkdir()
    prepare_work_dir(tmp_path / "w", {"lr": 1e-3})
    assert (work / "checkpoint-3").exists(), "same settings: state kept for resuming"
    prepare_work_dir(tmp_path / "w", {"lr": 5e-4})
    assert not (work / "checkpoint-3").exists(), "other settings: state discarded"
