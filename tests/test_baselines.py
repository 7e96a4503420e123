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
    """(root, theta0 dir, RSF folder with pool.jsonl, pretrain.jsonl) of a tiny world."""
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
    rsf_dir = root / "rsf"  # an RSF output folder: its pool.jsonl is what baselines read
    rsf_dir.mkdir()
    (rsf_dir / "pool.jsonl").write_text("".join(json.dumps(r) + "\n" for r in pool))
    pretrain_path = root / "pretrain.jsonl"
    pretrain_path.write_text("".join(json.dumps({"text": f}) + "\n" for f in facts))
    tok = train_tokenizer(facts + [r["prompt"] for r in pool], 300)
    theta0 = root / "theta0"
    tiny_llama(tok, max_position_embeddings=128).save_pretrained(theta0)
    tok.save_pretrained(theta0)
    return root, theta0, rsf_dir, pretrain_path


def _train(tiny, method, value, name, **extra):
    from alignment_tax.baselines import train_baseline

    root, theta0, rsf, pretrain = tiny
    out = root / "out" / name
    train_baseline(
        theta0,
        rsf,
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


@pytest.mark.parametrize("method,small,large", [("l2", 1e-6, 1e-2), ("l1", 1e-4, 1.0)])
def test_weight_penalty_keeps_weights_near_theta0(tiny, plain, method, small, large):
    theta0 = _weights(tiny[1])
    p = 1 if method == "l1" else 2
    d_plain = _distance(_weights(plain), theta0, p)
    d_small = _distance(_weights(_train(tiny, method, small, f"{method}_s")), theta0, p)
    d_large = _distance(_weights(_train(tiny, method, large, f"{method}_l")), theta0, p)
    assert d_large < d_small <= d_plain * 1.001
    assert d_large < 0.5 * d_plain


def _penalised_trainer(tiny, method, weight, model=None, name="tmp"):
    from alignment_tax.baselines import build_trainer, read_pool
    from alignment_tax.training_common import load_causal_lm, load_tokenizer

    root, theta0, rsf, _ = tiny
    return build_trainer(
        method,
        weight,
        model if model is not None else load_causal_lm(theta0),
        load_tokenizer(theta0),
        read_pool(rsf / "pool.jsonl"),
        params=PARAMS,
        seed=1,
        output_dir=str(root / f"{name}_{method}"),
    )


def _authors_penalty(method, model, reference, weight):
    """continual_trainer.py of the authors' code: alpha * sum|d| / n * 1e5 (L1) and
    alpha * sum d^2 / n * 1e9 (L2) over the trainable parameters."""
    total, n = 0.0, 0
    for name, p in model.named_parameters():
        d = p.detach().double() - reference[name].double()
        total += float(d.abs().sum() if method == "l1" else d.pow(2).sum())
        n += p.numel()
    return weight * total / n * (1e5 if method == "l1" else 1e9)


@pytest.mark.parametrize("method", ["l1", "l2"])
def test_weight_penalty_is_the_authors_normalised_formula(tiny, method):
    """The loss is the SFT loss + the authors' penalty, normalised by the parameter count."""
    trainer = _penalised_trainer(tiny, method, 0.5)
    assert trainer.penalty == method
    reference = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in trainer.model.parameters():
            p.add_(0.01 * torch.randn(p.shape, generator=gen))
    expected = _authors_penalty(method, trainer.model, reference, 0.5)
    with torch.no_grad():
        assert 0.5 * float(trainer.weight_penalty()) == pytest.approx(expected, rel=1e-4)
    batch = next(iter(trainer.get_train_dataloader()))
    trainer.model.eval()
    with torch.no_grad():
        total = trainer.compute_loss(trainer.model, dict(batch))
        trainer.penalty_weight = 0.0
        base = trainer.compute_loss(trainer.model, dict(batch))
    assert float(total - base) == pytest.approx(expected, rel=1e-3)


@pytest.mark.parametrize("method,per_param", [("l1", 0.01 * 1e5), ("l2", 0.01**2 * 1e9)])
def test_weight_penalty_does_not_grow_with_the_parameter_count(tiny, method, per_param):
    """Two model sizes, every weight 0.01 away from theta0: the same penalty (an
    unnormalised sum would grow with the number of parameters)."""
    from alignment_tax.training_common import load_tokenizer
    from conftest import tiny_llama_config
    from transformers import LlamaForCausalLM

    tok = load_tokenizer(tiny[1])
    values = []
    for hidden in (32, 96):
        cfg = tiny_llama_config(tok, max_position_embeddings=128)
        cfg.hidden_size, cfg.intermediate_size = hidden, 2 * hidden
        torch.manual_seed(0)
        trainer = _penalised_trainer(tiny, method, 1.0, LlamaForCausalLM(cfg), f"size{hidden}")
        with torch.no_grad():
            for p in trainer.model.parameters():
                p.add_(0.01)
            values.append(float(trainer.weight_penalty()))
    assert values[0] == pytest.approx(per_param, rel=1e-3)
    assert values[1] == pytest.approx(per_param, rel=1e-3)


def test_distillation_term_is_zero_at_theta0_and_pulls_towards_it(tiny, plain):
    from alignment_tax.baselines import build_trainer, read_pool
    from alignment_tax.training_common import load_causal_lm, load_tokenizer

    root, theta0, rsf, _ = tiny
    tok = load_tokenizer(theta0)
    trainer = build_trainer(
        "distillation",
        1.0,
        load_causal_lm(theta0),
        tok,
        read_pool(rsf / "pool.jsonl"),
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
    # the authors' term: KLDivLoss(batchmean)(log_softmax(student), softmax(teacher)), T = 1,
    # here over the positions the LM loss trains (labels of the next token != -100)
    student = torch.randn(logits.shape, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        teacher = trainer.teacher(
            input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
        ).logits
    trained = batch["labels"][:, 1:] != -100
    kl = (
        torch.nn.KLDivLoss(reduction="sum")(
            torch.log_softmax(student[:, :-1][trained], -1),
            torch.softmax(teacher[:, :-1][trained], -1),
        )
        / batch["input_ids"].shape[0]
    )
    assert float(trainer.distillation_penalty(batch, student)) == pytest.approx(float(kl), rel=1e-4)
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


def _sma_trajectory(theta0_weight, steps, resets=0):
    """Run the SMA callback over a one-parameter trajectory: theta0 = 0, then the trained
    weight sits at 1 from the first step on; returns the saved average and the weight."""
    from alignment_tax.baselines import sma_callback
    from transformers import TrainerControl, TrainerState

    model = torch.nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        model.weight.zero_()
    callback = sma_callback(theta0_weight, resets)
    state = TrainerState(max_steps=steps)
    callback.on_train_begin(None, state, TrainerControl(), model=model)
    for step in range(1, steps + 1):
        with torch.no_grad():
            model.weight.fill_(1.0)  # the optimizer step
        state.global_step = step
        callback.on_step_end(None, state, TrainerControl(), model=model)
    callback.on_train_end(None, state, TrainerControl(), model=model)
    return float(model.weight)


@pytest.mark.parametrize("theta0_weight", [0.2, 0.5, 0.9])
def test_sma_keeps_its_weight_on_theta0_whatever_the_number_of_steps(theta0_weight):
    """The configured value is the weight the average keeps on theta0 at the end: after 10
    or 2,000 optimizer steps alike (a fixed per-step decay forgets theta0 as steps grow)."""
    for steps in (10, 2000):
        assert _sma_trajectory(theta0_weight, steps) == pytest.approx(1 - theta0_weight, abs=1e-4)
    assert _sma_trajectory(0.0, 50) == pytest.approx(1.0)  # 0: the average is the model


def test_sma_elastic_resets_are_spread_over_training():
    from alignment_tax.baselines import sma_reset_steps, sma_step_decay

    assert sma_reset_steps(0, 100) == set()
    assert sma_reset_steps(3, 100) == {25, 50, 75}
    assert sma_reset_steps(1, 7) == {4}
    assert sma_step_decay(0.5, 1) == 0.5 and sma_step_decay(0.0, 10) == 0.0
    with pytest.raises(ValueError, match="theta0"):
        sma_step_decay(1.0, 10)


def test_replay_mixes_pretraining_tokens_by_ratio(tiny):
    from alignment_tax.baselines import read_pool, replay_rows, trained_length
    from alignment_tax.training_common import load_tokenizer

    _, theta0, rsf, pretrain = tiny
    tok = load_tokenizer(theta0)
    rows = read_pool(rsf / "pool.jsonl")
    max_length = PARAMS["max_length"]
    pool_tokens = sum(trained_length(tok, r["prompt"], r["completion"], max_length) for r in rows)
    small = replay_rows(pretrain, rows, 0.25, tok, seed=1, max_length=max_length)
    large = replay_rows(pretrain, rows, 0.5, tok, seed=1, max_length=max_length)
    tokens = sum(trained_length(tok, "", r["completion"], max_length) for r in small)
    assert all(r["prompt"] == "" for r in small)
    assert 0.25 * pool_tokens <= tokens < 0.25 * pool_tokens + 20
    assert len(large) > len(small)
    out = _train(tiny, "replay", 0.5, "replay")
    assert json.loads((out / "baseline.json").read_text())["n_rows"] == len(rows) + len(large)


def test_replay_counts_the_tokens_trained_on_truncated_documents(tiny, tmp_path):
    """A document longer than max_length is trained on its first max_length tokens only:
    it counts that many towards the ratio, so the replay set holds the tokens it promises,
    counted as TRL's SFTTrainer builds the training rows (EOS added, then truncated)."""
    import math

    from alignment_tax.baselines import build_trainer, read_pool, replay_rows, trained_length
    from alignment_tax.training_common import load_causal_lm, load_tokenizer

    _, theta0, rsf, _ = tiny
    tok = load_tokenizer(theta0)
    rows = read_pool(rsf / "pool.jsonl")
    long_docs = tmp_path / "long.jsonl"
    text = " ".join(["the creature number lives in the red forest"] * 12)
    long_docs.write_text("".join(json.dumps({"text": f"{i} {text}"}) + "\n" for i in range(200)))
    max_length = 24
    assert len(tok(text)["input_ids"]) > 4 * max_length
    pool_tokens = sum(
        min(len(tok(r["prompt"] + r["completion"] + tok.eos_token)["input_ids"]), max_length)
        for r in rows
    )
    docs = replay_rows(long_docs, rows, 2.0, tok, seed=1, max_length=max_length)
    # each document counts max_length tokens (not its ~100): just enough of them drawn
    assert len(docs) == math.ceil(2.0 * pool_tokens / max_length)
    # trained_length is what TRL trains on: the lengths of its tokenised, truncated rows
    trainer = build_trainer(
        "replay",
        2.0,
        load_causal_lm(theta0),
        tok,
        rows + docs,
        params={**PARAMS, "max_length": max_length},
        seed=1,
        output_dir=str(tmp_path / "replay_trainer"),
    )
    lengths = [len(ids) for ids in trainer.train_dataset["input_ids"]]
    assert lengths == [
        trained_length(tok, r["prompt"], r["completion"], max_length) for r in rows + docs
    ]
    assert sum(lengths[: len(rows)]) == pool_tokens


def test_bad_inputs_fail_early(tiny, tmp_path):
    from alignment_tax.baselines import train_baseline

    _, theta0, rsf, _ = tiny
    with pytest.raises(FileNotFoundError, match="RSF pool"):
        train_baseline(
            theta0,
            tmp_path / "no_rsf_output",
            tmp_path / "o",
            tmp_path / "w",
            "l1",
            0.1,
            PARAMS,
            seed=1,
        )
    with pytest.raises(ValueError, match="replay"):
        train_baseline(theta0, rsf, tmp_path / "o", tmp_path / "w", "replay", 1.0, PARAMS, seed=1)
    with pytest.raises(KeyError, match="lr"):
        train_baseline(
            theta0,
            rsf,
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

    _, theta0, rsf, _ = tiny
    tok, rows = load_tokenizer(theta0), read_pool(rsf / "pool.jsonl")
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
