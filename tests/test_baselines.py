"""Forgetting-mitigation baselines (alignment_tax.baselines, alignment_tax.baseline_models).

A tiny world, a BPE tokenizer trained on it and a random 2-layer LlamaForCausalLM stand in
for theta0; the RSF pool is a few rows written here. Each penalty test trains for a few
steps and checks the term does what its definition says.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from alignment_tax.baseline_models import (
    baseline_models,
    fmt_value,
    parse_value,
    trained_baseline_dirs,
)

REPO = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------------- baseline_models


def _config(**overrides):
    import yaml

    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    cfg.update(overrides)
    return cfg


def test_baseline_models_cover_the_config_grid():
    cfg = _config()
    models = baseline_models(cfg)
    by_method = {}
    for m in models:
        assert set(m) == {"id", "pair", "algorithm", "method", "hyper", "path"}
        assert "value" in m["hyper"]
        by_method.setdefault(m["method"], []).append(m)
    b = cfg["baselines"]
    assert len(by_method["l1"]) == len(b["l1"])
    assert len(by_method["lora_mlp"]) == len(b["lora_mlp_ranks"])
    assert len(by_method["ppo_kl"]) == len(cfg["rlhf"]["ppo"]["kl_coefs"])
    es = by_method["early_stopping"][0]
    it = b["early_stopping_iterations"][0]
    assert es["id"] == f"rsf/early_stopping/iter{it}"
    assert es["hyper"] == {"value": it, "iteration": it}
    assert es["path"] == f"results/toy/models/rlhf/rsf/iter_{it}"
    l1 = by_method["l1"][0]
    assert l1["id"] == f"rsf/l1/{b['l1'][0]:g}"
    assert l1["path"] == f"results/toy/models/baselines/rsf/l1/{b['l1'][0]:g}"
    ppo = by_method["ppo_kl"][0]
    assert ppo["id"] == "ppo/ppo_kl/0.05" and ppo["path"] == "results/toy/models/rlhf/ppo_kl0.05"
    assert ppo["pair"] == "ppo"
    assert len({m["id"] for m in models}) == len(models)
    assert all(
        p.startswith("results/toy/models/baselines/rsf/") for p in trained_baseline_dirs(cfg)
    )


def test_baseline_models_follow_stages_and_algorithms():
    cfg = _config()
    assert baseline_models({**cfg, "stages": {**cfg["stages"], "baselines": False}}) == []
    only_rsf = {**cfg, "rlhf": {**cfg["rlhf"], "algorithms": ["rsf"]}}
    assert {m["pair"] for m in baseline_models(only_rsf)} == {"rsf"}
    too_late = {**cfg, "baselines": {**cfg["baselines"], "early_stopping_iterations": [99]}}
    with pytest.raises(ValueError, match="early_stopping_iterations"):
        baseline_models(too_late)


def test_value_text_round_trips():
    assert fmt_value("l1", 1.0) == "1" and parse_value("l1", "1") == 1.0
    assert (
        fmt_value("distillation", 1e-5) == "1e-05" and parse_value("distillation", "1e-05") == 1e-5
    )
    assert fmt_value("lora_mlp", 16) == "16" and parse_value("lora_mlp", "16") == 16
    with pytest.raises(ValueError):
        parse_value("early_stopping", "2")


# ----------------------------------------------------------------------- training

torch = pytest.importorskip("torch")

PARAMS = dict(
    epochs=1,
    lr=5e-3,
    batch_size=4,
    max_length=64,
    scheduler="constant",
    warmup_ratio=0.0,
    save_steps=1000,
    lora_alpha=32,
    lora_dropout=0.0,
)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """(root, theta0 dir, pool.jsonl, pretrain.jsonl) of a tiny world."""
    from alignment_tax.tokenizer_training import train_tokenizer
    from conftest import tiny_llama

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("baselines")
    facts = [
        f"the creature number {i} lives in the {c} forest"
        for i, c in enumerate(["red", "blue", "green", "dark", "old", "tall"] * 3)
    ]
    pool = [
        {
            "iteration": 1 + i % 2,
            "prompt": f"\n\nHuman: where does creature {i} live?\n\nAssistant:",
            "response": f" {fact}",
            "reward": 1.0,
            "mean_reward": 0.5,
            "meta": None,
        }
        for i, fact in enumerate(facts[:12])
    ]
    pool_path = root / "pool.jsonl"
    pool_path.write_text("".join(json.dumps(r) + "\n" for r in pool))
    pretrain_path = root / "pretrain.jsonl"
    pretrain_path.write_text("".join(json.dumps({"text": f}) + "\n" for f in facts))
    tok = train_tokenizer(facts + [r["prompt"] for r in pool], 300)
    theta0 = root / "theta0"
    tiny_llama(tok, max_position_embeddings=128).save_pretrained(theta0)
    tok.save_pretrained(theta0)
    return root, theta0, pool_path, pretrain_path


def _train(tiny, method, value, name, **extra):
    from alignment_tax.baselines import train_baseline

    root, theta0, pool, pretrain = tiny
    out = root / "out" / name
    train_baseline(
        theta0,
        pool,
        out,
        root / "work" / name,
        method,
        value,
        {**PARAMS, **extra},
        seed=1,
        pretrain_path=pretrain,
    )
    return out


def _weights(model_dir):
    from safetensors.torch import load_file

    return load_file(str(Path(model_dir) / "model.safetensors"))


def _distance(a, b, p=2):
    return sum(float((a[k].float() - b[k].float()).abs().pow(p).sum()) for k in a) ** (1 / p)


@pytest.fixture(scope="module")
def plain(tiny):
    return _train(tiny, "plain", None, "plain")


def test_l2_weight_zero_is_plain_fine_tuning(tiny, plain):
    zero = _train(tiny, "l2", 0.0, "l2_0")
    a, b = _weights(zero), _weights(plain)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert json.loads((zero / "baseline.json").read_text())["method"] == "l2"


@pytest.mark.parametrize("method,small,large", [("l2", 0.01, 100.0), ("l1", 1e-4, 1.0)])
def test_weight_penalty_keeps_weights_near_theta0(tiny, plain, method, small, large):
    theta0 = _weights(tiny[1])
    p = 1 if method == "l1" else 2
    d_plain = _distance(_weights(plain), theta0, p)
    d_small = _distance(_weights(_train(tiny, method, small, f"{method}_s")), theta0, p)
    d_large = _distance(_weights(_train(tiny, method, large, f"{method}_l")), theta0, p)
    assert d_large < d_small <= d_plain * 1.001
    assert d_large < 0.5 * d_plain


@pytest.mark.parametrize("method,per_param", [("l1", 1e-2), ("l2", 1e-4)])
def test_weight_penalty_adds_the_norm_to_the_loss(tiny, method, per_param):
    """The loss is the SFT loss + weight * ||theta - theta0||_1 (L1) or ||.||_2^2 (L2)."""
    from alignment_tax.baselines import build_trainer, read_pool
    from alignment_tax.training_common import load_causal_lm, load_tokenizer

    root, theta0, pool, _ = tiny
    tok = load_tokenizer(theta0)
    trainer = build_trainer(
        method,
        0.5,
        load_causal_lm(theta0),
        tok,
        read_pool(pool),
        params=PARAMS,
        seed=1,
        output_dir=str(root / f"tmp_{method}"),
    )
    assert trainer.penalty == method
    with torch.no_grad():
        for p in trainer.model.parameters():
            p.add_(0.01)
    n = sum(p.numel() for p in trainer.model.parameters())
    with torch.no_grad():
        assert float(trainer.weight_penalty()) == pytest.approx(n * per_param, rel=1e-3)
    batch = next(iter(trainer.get_train_dataloader()))
    trainer.model.eval()
    with torch.no_grad():
        total = trainer.compute_loss(trainer.model, dict(batch))
        trainer.penalty_weight = 0.0
        base = trainer.compute_loss(trainer.model, dict(batch))
    assert float(total - base) == pytest.approx(0.5 * n * per_param, rel=1e-3)


def test_distillation_term_is_zero_at_theta0_and_pulls_towards_it(tiny, plain):
    from alignment_tax.baselines import build_trainer, read_pool
    from alignment_tax.training_common import load_causal_lm, load_tokenizer

    root, theta0, pool, _ = tiny
    tok = load_tokenizer(theta0)
    trainer = build_trainer(
        "distillation",
        1.0,
        load_causal_lm(theta0),
        tok,
        read_pool(pool),
        params=PARAMS,
        seed=1,
        output_dir=str(root / "tmp_kd"),
        teacher=load_causal_lm(theta0),
    )
    batch = {k: v for k, v in next(iter(trainer.get_train_dataloader())).items()}
    logits = trainer.model(
        input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
    ).logits
    assert float(trainer.distillation_penalty(batch, logits)) == pytest.approx(0.0, abs=1e-9)
    assert float(trainer.distillation_penalty(batch, logits * 3)) > 0
    # a strong distillation weight keeps the policy closer to theta0 than plain training
    theta0_w = _weights(theta0)
    strong = _train(tiny, "distillation", 1e4, "kd_strong")
    assert _distance(_weights(strong), theta0_w) < _distance(_weights(plain), theta0_w)


@pytest.mark.parametrize("method", ["lora_mlp", "lora_mlp_attn"])
def test_lora_saves_a_plain_merged_checkpoint(tiny, method):
    out = _train(tiny, method, 4, method)
    assert not (out / "adapter_config.json").exists()
    theta0, merged = _weights(tiny[1]), _weights(out)
    assert set(merged) == set(theta0)  # plain LLaMA tensor names, no lora_A/lora_B
    changed = {k for k in merged if not torch.equal(merged[k], theta0[k])}
    assert changed and all(any(m in k for m in ("mlp.", "self_attn.")) for k in changed)
    assert any("self_attn." in k for k in changed) == (method == "lora_mlp_attn")


def test_sma_keeps_the_average_between_theta0_and_plain(tiny, plain):
    theta0 = _weights(tiny[1])
    d_plain = _distance(_weights(plain), theta0)
    d_slow = _distance(_weights(_train(tiny, "sma", 0.9, "sma_09")), theta0)
    d_frozen = _distance(_weights(_train(tiny, "sma", 0.0, "sma_0")), theta0)
    assert d_frozen == pytest.approx(d_plain, rel=1e-5)  # decay 0: the average is the model
    assert d_slow < 0.8 * d_plain


def test_replay_mixes_pretraining_tokens_by_ratio(tiny):
    from alignment_tax.baselines import read_pool, replay_rows
    from alignment_tax.training_common import load_tokenizer

    _, theta0, pool, pretrain = tiny
    tok = load_tokenizer(theta0)
    rows = read_pool(pool)
    pool_tokens = sum(len(tok(r["prompt"] + r["completion"])["input_ids"]) for r in rows)
    small = replay_rows(pretrain, rows, 0.25, tok, seed=1)
    large = replay_rows(pretrain, rows, 0.5, tok, seed=1)
    tokens = sum(len(tok(r["completion"])["input_ids"]) for r in small)
    assert all(r["prompt"] == "" for r in small)
    assert 0.25 * pool_tokens <= tokens < 0.25 * pool_tokens + 20
    assert len(large) > len(small)
    out = _train(tiny, "replay", 0.5, "replay")
    assert json.loads((out / "baseline.json").read_text())["n_rows"] == len(rows) + len(large)


def test_bad_inputs_fail_early(tiny, tmp_path):
    from alignment_tax.baselines import train_baseline

    _, theta0, pool, _ = tiny
    with pytest.raises(FileNotFoundError, match="RSF pool"):
        train_baseline(
            theta0,
            tmp_path / "nope.jsonl",
            tmp_path / "o",
            tmp_path / "w",
            "l1",
            0.1,
            PARAMS,
            seed=1,
        )
    with pytest.raises(ValueError, match="replay"):
        train_baseline(theta0, pool, tmp_path / "o", tmp_path / "w", "replay", 1.0, PARAMS, seed=1)
    with pytest.raises(KeyError, match="lr"):
        train_baseline(
            theta0,
            pool,
            tmp_path / "o",
            tmp_path / "w",
            "l1",
            0.1,
            {"epochs": 1, "batch_size": 4},
            seed=1,
        )


def test_pretrain_sample_is_written_as_text_rows(tmp_path, monkeypatch):
    from alignment_tax import hub_data
    from alignment_tax.baselines import write_pretrain_sample
    from alignment_tax.io import read_jsonl
    from datasets import Dataset

    docs = [{"text": f"document {i}", "meta": "{}"} for i in range(10)] + [
        {"text": " ", "meta": ""}
    ]
    monkeypatch.setattr(hub_data, "load_hub_dataset", lambda spec: Dataset.from_list(docs))
    out = tmp_path / "pretrain.jsonl"
    write_pretrain_sample({"hub_id": "a/b"}, out, seed=1)
    assert read_jsonl(out) == [{"text": d["text"]} for d in docs[:10]]
    write_pretrain_sample({"hub_id": "a/b", "max_rows": 4}, out, seed=1)
    assert len(read_jsonl(out)) == 4
    monkeypatch.setattr(
        hub_data, "load_hub_dataset", lambda spec: Dataset.from_list([{"content": "x"}])
    )
    with pytest.raises(KeyError, match="pretrain_sample"):
        write_pretrain_sample({"hub_id": "a/b"}, out, seed=1)


def test_sma_average_survives_a_resume(tiny, tmp_path):
    """A run resumed from a mid-training checkpoint ends with the same average as an
    uninterrupted run: the average is saved with the checkpoint and read back."""
    import shutil

    from alignment_tax.baselines import EMA_FILE, build_trainer, read_pool
    from alignment_tax.training_common import last_checkpoint, load_causal_lm, load_tokenizer

    _, theta0, pool, _ = tiny
    tok, rows = load_tokenizer(theta0), read_pool(pool)
    params = {**PARAMS, "save_steps": 1}

    def run(out):
        trainer = build_trainer(
            "sma", 0.5, load_causal_lm(theta0), tok, rows, params=params, seed=1, output_dir=out
        )
        trainer.train(resume_from_checkpoint=last_checkpoint(out))
        return {k: v.detach().clone() for k, v in trainer.model.state_dict().items()}

    whole = run(str(tmp_path / "a"))
    run(str(tmp_path / "b"))
    assert (tmp_path / "b" / "checkpoint-2" / EMA_FILE).is_file()
    for ckpt in (tmp_path / "b").glob("checkpoint-*"):
        if ckpt.name != "checkpoint-2":
            shutil.rmtree(ckpt)
    resumed = run(str(tmp_path / "b"))
    assert all(torch.allclose(whole[k], resumed[k], atol=1e-6) for k in whole)
