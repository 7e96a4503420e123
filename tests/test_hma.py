"""HMA: ratio parameterisation, merged forward pass, fitting loop, D_theta, AdaMerging.

Convention: a ratio is the weight on theta0 (merged = r * theta0 + (1 - r) * theta).
"""

from __future__ import annotations

import json

import pytest
import torch
from alignment_tax import adamerging, hma, merging, recipes, variants
from test_merging import WORDS, save_pair, tiny_config, tiny_model, tiny_tokenizer


@pytest.mark.parametrize("k", [1, 3, 6, 9])
@pytest.mark.parametrize("alpha", [0.0, 0.1, 0.5, 0.9, 1.0])
@pytest.mark.parametrize("epsilon", [0.0, 0.5])
def test_ratios_mean_and_bounds(k, alpha, epsilon):
    gen = torch.Generator().manual_seed(k)
    for scale in (0.1, 3.0, 30.0):
        logits = scale * torch.randn(k, generator=gen)
        r = hma.hma_ratios(logits, alpha, epsilon)
        assert r.dtype == torch.float32 and r.shape == (k,)
        assert abs(float(r.mean()) - alpha) < 1e-6
        assert float(r.min()) >= 0.0 and float(r.max()) <= 1.0


def test_ratios_match_authors_formula_when_feasible_and_cap_otherwise():
    logits = torch.tensor([4.0, -3.0, -1.0])
    authors = 3 * 0.2 * torch.sigmoid(logits) / torch.sigmoid(logits).sum()
    torch.testing.assert_close(hma.hma_ratios(logits, 0.2), authors)
    # at alpha 0.6 the authors' ratio for part 1 exceeds 1: ours stops at exactly 1
    authors = 3 * 0.6 * torch.sigmoid(logits) / torch.sigmoid(logits).sum()
    assert float(authors.max()) > 1.0
    ours = hma.hma_ratios(logits, 0.6)
    assert float(ours.max()) == pytest.approx(1.0) and float(ours.mean()) == pytest.approx(0.6)
    assert torch.argsort(ours).tolist() == torch.argsort(authors).tolist()  # order kept


def test_gradients_reach_every_logit():
    logits = torch.tensor([0.3, -0.2, 0.1], requires_grad=True)
    r = hma.hma_ratios(logits, 0.4, 0.1)
    (r * torch.tensor([1.0, 2.0, 3.0])).sum().backward()
    assert torch.all(logits.grad != 0)
    assert torch.all(hma.initial_logits(3, 0.3) == hma.initial_logits(3, 0.3)[0])
    torch.testing.assert_close(hma.hma_ratios(hma.initial_logits(4, 0.3), 0.3),
                               torch.full((4,), 0.3))


def test_merged_forward_equals_materialized_recipe(tmp_path):
    """The fitting forward pass (functional_call over theta0 + (1-r) delta) is the same
    model that the recipe of those ratios builds."""
    from transformers import AutoModelForCausalLM

    dirs = save_pair(tmp_path, layers=6)
    model, theta_state = hma.load_pair_for_fit(*dirs)
    ranges = merging.part_ranges(6, 3)
    policies = variants.DEFAULT_POLICIES["hma"]
    merged = hma.MergedParameters(model, theta_state, ranges, policies, alpha=0.4)
    ratios = torch.tensor([0.7, 0.2, 0.3])
    # only the decoder's linear layers follow a part; delta is held once, not per part
    assert set(merged.delta) == {n for n in merged.source if isinstance(merged.source[n], int)}
    assert all(merging.tensor_kind(n)[0] == "linear" for n in merged.delta)
    batch = {"input_ids": torch.tensor([[3, 5, 7, 9, 4, 12]])}
    from torch.func import functional_call

    fitted = functional_call(model, merged.params(ratios), args=(), kwargs=batch).logits
    recipe = recipes.make_recipe(
        "t", theta0=dirs[0], theta=dirs[1], global_ratio=0.4, policies=policies, meta={},
        layer_ratios=merging.layer_ratios_from_parts(ratios.tolist(), ranges))
    built = recipes.materialize(recipe)(**batch).logits
    torch.testing.assert_close(fitted, built, rtol=1e-5, atol=1e-5)
    assert isinstance(AutoModelForCausalLM.from_pretrained(dirs[0]), torch.nn.Module)


def _examples():
    return [("Human: what colour is the cat Assistant:", " the cat is red"),
            ("Human: what colour is the dog Assistant:", " the dog is blue"),
            ("Human: the cat sat on the mat Assistant:", " yes"),
            ("Human: Paris is in France Assistant:", " yes")] * 4


def test_fit_moves_ratios_and_lowers_loss(tmp_path):
    dirs = save_pair(tmp_path, layers=6)
    model, theta_state = hma.load_pair_for_fit(*dirs)
    tok = tiny_tokenizer()
    settings = hma.FitSettings(alpha=0.4, lr=0.2, scheduler="constant", steps=30,
                               batch_size=4, max_length=32, l1_weight=0.0, seed=0)
    summary = {}
    ratios, curve = hma.fit_ratios(model, theta_state, tok, _examples(),
                                   ranges=merging.part_ranges(6, 3),
                                   policies=variants.DEFAULT_POLICIES["hma"],
                                   settings=settings, summary=summary)
    assert summary["nll_fitted"] < summary["nll_at_alpha"]  # the fit improves Eq. 9
    assert len(curve) == 30 and {"loss", "nll", "l1", "ratio_1", "ratio_3", "lr"} <= set(curve[0])
    assert sum(ratios) / 3 == pytest.approx(0.4, abs=1e-6)
    assert max(abs(r - 0.4) for r in ratios) > 0.02  # moved away from alpha
    # the parts got different ratios after the first step: live logits, not a stale copy
    assert len({round(curve[1][f"ratio_{i}"], 6) for i in (1, 2, 3)}) == 3
    first = sum(row["nll"] for row in curve[:5]) / 5
    last = sum(row["nll"] for row in curve[-5:]) / 5
    assert last < first


def test_l1_term_pulls_towards_alpha(tmp_path):
    dirs = save_pair(tmp_path, layers=6)
    tok = tiny_tokenizer()
    moved = []
    for l1 in (0.0, 1.0):
        model, theta_state = hma.load_pair_for_fit(*dirs)
        settings = hma.FitSettings(alpha=0.4, lr=0.2, scheduler="constant", steps=15,
                                   batch_size=4, max_length=32, l1_weight=l1)
        ratios, _ = hma.fit_ratios(model, theta_state, tok, _examples(),
                                   ranges=merging.part_ranges(6, 3),
                                   policies=variants.DEFAULT_POLICIES["hma"], settings=settings)
        moved.append(sum(abs(r - 0.4) for r in ratios))
    assert moved[1] < moved[0]


def test_encode_masks_prompt():
    tok = tiny_tokenizer()
    (ids, labels), = hma.encode_examples(tok, [("the cat", " sat on")], max_length=16)
    assert labels[:2] == [-100, -100] and labels[2:] == ids[2:] and ids[-1] == tok.eos_token_id
    with pytest.raises(ValueError, match="max_length"):
        hma.encode_examples(tok, [("the cat sat", " on")], max_length=3)


def test_build_dataset_ranks_by_reward(tmp_path):
    from transformers import LlamaForSequenceClassification

    tok = tiny_tokenizer()
    policy = tiny_model(tiny_config(vocab=len(WORDS)), 0)
    cfg = tiny_config(vocab=len(WORDS))
    cfg.num_labels, cfg.pad_token_id = 1, tok.pad_token_id
    torch.manual_seed(3)
    rm = LlamaForSequenceClassification(cfg).eval()
    prompts = [f"Human: what colour is the {w} Assistant:" for w in WORDS[5:17]]
    rows = hma.build_dataset(policy, rm, tok, prompts, n_top=8, n_train=5, max_new_tokens=4,
                             temperature=1.0, batch_size=4, seed=0)
    assert len(rows) == 5 and set(rows[0]) == {"prompt", "response", "reward"}
    again = hma.build_dataset(policy, rm, tok, prompts, n_top=8, n_train=5, max_new_tokens=4,
                              temperature=1.0, batch_size=4, seed=0)
    assert rows == again
    with pytest.raises(ValueError, match="n_train_samples"):
        hma.build_dataset(policy, rm, tok, prompts, n_top=2, n_train=5, max_new_tokens=4,
                          temperature=1.0, batch_size=4, seed=0)
    # the kept rows are the best-rewarded answers
    every = hma.build_dataset(policy, rm, tok, prompts, n_top=12, n_train=12, max_new_tokens=4,
                              temperature=1.0, batch_size=4, seed=0)
    cut = sorted((r["reward"] for r in every), reverse=True)[7]
    assert all(r["reward"] >= cut for r in rows)
    unranked = hma.build_dataset(policy, None, tok, prompts, n_top=8, n_train=5,
                                 max_new_tokens=4, temperature=1.0, batch_size=4, seed=0)
    assert len(unranked) == 5 and all(r["reward"] == 0.0 for r in unranked)


def test_adamerging_layerwise(tmp_path):
    dirs = save_pair(tmp_path, layers=4)
    data = tmp_path / "toy_reading_people.jsonl"
    data.write_text("\n".join(json.dumps({"id": i, "prompt": p, "answer": a.strip()})
                              for i, (p, a) in enumerate(_examples())) + "\n")
    examples = adamerging.load_qa_pairs([data], n=8, seed=0)
    assert all(a.startswith(" ") for _, a in examples)
    with pytest.raises(ValueError, match="n_train_samples"):
        adamerging.load_qa_pairs([data], n=999, seed=0)
    model, theta_state = hma.load_pair_for_fit(*dirs)
    ratios, curve = adamerging.fit_layer_ratios(
        model, theta_state, tiny_tokenizer(), examples, mean_alpha=0.2, lr=0.1, steps=5,
        batch_size=4, max_length=32, policies=variants.DEFAULT_POLICIES["adamerging"], seed=0)
    assert len(ratios) == 4 and len(curve) == 5
    assert sum(ratios) / 4 == pytest.approx(0.2, abs=1e-6)


@pytest.mark.slow
def test_merging_rules_end_to_end(tmp_path):
    """rules/merging.smk on a tiny fixture: pair check, recipes, D_theta, HMA and AdaMerging
    fits; then every recipe materializes (about a minute on 2 CPU cores)."""
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    from transformers import LlamaForSequenceClassification

    repo = Path(__file__).resolve().parent.parent
    run = tmp_path / "results" / "mtest"
    d0, d1 = save_pair(tmp_path / "pair", layers=6)
    (run / "models" / "rlhf").mkdir(parents=True)
    shutil.move(d0, run / "models" / "sft")
    shutil.move(d1, run / "models" / "rlhf" / "rsf")
    tok = tiny_tokenizer()
    cfg = tiny_config(vocab=len(WORDS), layers=2)
    cfg.num_labels, cfg.pad_token_id = 1, tok.pad_token_id
    torch.manual_seed(5)
    LlamaForSequenceClassification(cfg).save_pretrained(run / "models" / "reward_model")
    tok.save_pretrained(run / "models" / "reward_model")
    (run / "data" / "prompts").mkdir(parents=True)
    prompts = [f"Human: what colour is the {w} Assistant:" for w in WORDS[5:] for _ in range(3)]
    (run / "data" / "prompts" / "rlhf_train.jsonl").write_text(
        "".join(json.dumps({"prompt": p}) + "\n" for p in prompts))
    (run / "data" / "tasks").mkdir(parents=True)
    for task in ("toy_reading_people", "toy_reading_places"):
        (run / "data" / "tasks" / f"{task}.jsonl").write_text("".join(
            json.dumps({"prompt": f"Human: the {w} sat on the mat what sat Assistant:",
                        "answer": f"the {w}"}) + "\n" for w in WORDS[5:]))
    (tmp_path / "Snakefile").write_text(
        f'import sys\nsys.path.insert(0, "{repo}/workflow_scripts")\n'
        f'configfile: "{repo}/config/config.yaml"\n'
        f'include: "{repo}/rules/common.smk"\ninclude: "{repo}/rules/resources.smk"\n'
        f'include: "{repo}/rules/merging.smk"\n')
    (tmp_path / "overrides.yaml").write_text("""
run_name: mtest
stages: {baselines: false}
rlhf: {algorithms: [rsf], max_new_tokens: 6, temperature: 1.0}
merging:
  ma: {alphas: [0.0, 0.5, 1.0]}
  partwise: {alphas: [0.5], parts: [input]}
  patterns: {bases: [0.3], patterns: ["a|a|a-0.1"]}
  hma: {alphas: [0.3], Ks: [3], epsilon: 0.0, lr: 0.1, lr_sweep: [], scheduler: cosine,
        warmup_ratio: 0.0, epochs: 2, batch_size: 8, block_size: 32, l1_weight: 0.0,
        n_top_samples: 30, n_train_samples: 20}
  adamerging: {mean_alphas: [0.4], lr: 0.1, steps: 3, batch_size: 4, n_train_samples: 10}
""")
    snakemake = Path(sys.executable).parent / "snakemake"
    subprocess.run([str(snakemake), "-s", "Snakefile", "--configfile",
                    f"{repo}/config/config.yaml", "overrides.yaml", "--cores", "2",
                    "merging_recipes"], cwd=tmp_path, check=True, capture_output=True)
    recipe_files = sorted((tmp_path / "results" / "mtest" / "recipes").rglob("*.json"))
    assert len(recipe_files) == 9
    fit = json.loads((run / "merging/rsf/hma/K3/lr0.1/alpha0.3/ratios.json").read_text())
    assert sum(fit["ratios"]) / 3 == pytest.approx(0.3, abs=1e-6)
    import os

    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        cache = recipes.ModelCache()
        for path in recipe_files:
            assert path.stat().st_size < 4096
            recipes.materialize(path, cache)
    finally:
        os.chdir(cwd)
