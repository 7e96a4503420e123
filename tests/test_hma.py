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
    assert len(rows) == 5 and set(rows[0]) == {"prompt", "response", "reward", "split"}
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
    # a small toy world (AdaMerging draws its labelled fit items from world.json)
    import yaml
    from alignment_tax.toy_world import generate_toy_world

    small_world = {"n_pretrain_docs": 50, "n_sharegpt": 20, "n_preference_pairs": 10,
                   "n_preference_test_pairs": 4, "n_rlhf_train_prompts": 8,
                   "n_eval_prompts": 4, "n_benchmark_items": 150}
    world_cfg = yaml.safe_load((repo / "config" / "config.yaml").read_text())["toy_world"]
    generate_toy_world(run / "data", 1, {
        k: v for k, v in {**world_cfg, **small_world}.items()
        if k not in ("architecture", "pretrain", "pretrain_threads", "tokenizer")})
    prompts = [f"Human: what colour is the {w} Assistant:" for w in WORDS[5:] for _ in range(3)]
    (run / "data" / "prompts" / "rlhf_train.jsonl").write_text(
        "".join(json.dumps({"prompt": p}) + "\n" for p in prompts))
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
toy_world: {n_pretrain_docs: 50, n_sharegpt: 20, n_preference_pairs: 10,
            n_preference_test_pairs: 4, n_rlhf_train_prompts: 8, n_eval_prompts: 4,
            n_benchmark_items: 150}
rlhf: {algorithms: [rsf], max_new_tokens: 6, temperature: 1.0}
merging:
  ma: {alphas: [0.0, 0.5, 1.0]}
  extrapolation: {alphas: [-0.2]}
  partwise: {alphas: [0.5], parts: [input]}
  patterns: {bases: [0.3], patterns: ["a|a|a-0.1"]}
  hma: {alphas: [0.3], Ks: [3], epsilons: [0.0], lrs: [0.001, 0.3], scheduler: cosine,
        warmup_ratio: 0.0, epochs: 2, batch_size: 8, block_size: 32, l1_weight: 0.0,
        n_top_samples: 30, n_train_samples: 20, n_heldout_samples: 6}
  adamerging: {mean_alphas: [0.4], lr: 0.1, steps: 3, batch_size: 4, n_train_samples: 10}
""")
    snakemake = Path(sys.executable).parent / "snakemake"
    done = subprocess.run([str(snakemake), "-s", "Snakefile", "--configfile",
                           f"{repo}/config/config.yaml", "overrides.yaml", "--cores", "2",
                           "merging_recipes"], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    recipe_files = sorted(p for p in (run / "recipes").rglob("*.json")
                          if not p.name.endswith(".selection.json"))
    # sft, theta, 3 MA, 1 extrapolation, 1 part, 1 pattern, 1 HMA, 1 AdaMerging
    assert len(recipe_files) == 10
    assert (run / "recipes/rsf/extrapolation/alpha-0.2.json").is_file()
    # D_theta: 20 rows to fit on, 6 held out, disjoint
    train = [json.loads(x) for x in (run / "merging/rsf/hma_data.jsonl").read_text().splitlines()]
    held = [json.loads(x) for x in (run / "merging/rsf/hma_heldout.jsonl").read_text().splitlines()]
    assert len(train) == 20 and len(held) == 6
    assert not {(r["prompt"], r["response"]) for r in held} & {
        (r["prompt"], r["response"]) for r in train}
    # one fit per candidate lr; the recipe is the candidate of least held-out loss
    fits = [json.loads((run / f"merging/rsf/hma/K3/alpha0.3/lr{lr}_eps0/ratios.json")
                       .read_text()) for lr in ("0.001", "0.3")]
    for fit in fits:
        assert sum(fit["ratios"]) / 3 == pytest.approx(0.3, abs=1e-6)
        assert fit["n_heldout"] == 6 and fit["n_examples"] == 20
    best = min(fits, key=lambda f: f["heldout_loss"])
    selection = json.loads((run / "recipes/rsf/hma/K3/alpha0.3.selection.json").read_text())
    assert [c["lr"] for c in selection["candidates"]] == [0.001, 0.3]
    assert [c["heldout_loss"] for c in selection["candidates"]] == [
        f["heldout_loss"] for f in fits]
    assert selection["lr"] == best["lr"] and selection["ratios"] == best["ratios"]
    recipe = json.loads((run / "recipes/rsf/hma/K3/alpha0.3.json").read_text())
    assert recipe["meta"]["part_ratios"] == best["ratios"]
    assert recipe["meta"]["hyper"]["lr"] == best["lr"]
    assert recipe["meta"]["hyper"]["lr_candidates"] == [0.001, 0.3]
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


def test_bf16_pair_merge_keeps_fp32_ratio(tmp_path):
    """A 2e-5 change of a ratio must reach a bf16 pair's merged weights and loss: the
    weight on theta is not rounded to bf16 (whose step near 0.8 is 0.004) before merging."""
    dirs = save_pair(tmp_path, layers=3)
    model, theta_state = hma.load_pair_for_fit(*dirs, dtype=torch.bfloat16)
    ranges = merging.part_ranges(3, 3)
    merged = hma.MergedParameters(model, theta_state, ranges, variants.DEFAULT_POLICIES["hma"],
                                  alpha=0.2)
    ratios = torch.full((3,), 0.2)
    nudged = ratios + torch.tensor([2e-5, 0.0, 0.0])
    before, after = merged.params(ratios), merged.params(nudged)
    part0 = [n for n in merged.base if merged.source[n] == 0]
    assert all(before[n].dtype == torch.bfloat16 for n in part0)
    # the sum is formed in fp32 and rounded once: exactly the fp32 merge, rounded to bf16
    for name in part0:
        exact = (merged.base[name].float() + (1 - nudged[0]) * merged.delta[name].float())
        assert torch.equal(after[name], exact.to(torch.bfloat16))
    assert any(not torch.equal(before[n], after[n]) for n in part0)
    assert all(torch.equal(before[n], after[n]) for n in merged.base if n not in part0)
    batch = {"input_ids": torch.tensor([[3, 5, 7, 9, 4, 12, 7, 8]]),
             "labels": torch.tensor([[3, 5, 7, 9, 4, 12, 7, 8]])}
    with torch.no_grad():
        assert float(merged.loss(ratios, batch)) != float(merged.loss(nudged, batch))
    # the gradient reaches the fp32 logits through the bf16 forward pass
    logits = torch.nn.Parameter(hma.initial_logits(3, 0.2))
    merged.loss(hma.hma_ratios(logits, 0.2), batch).backward()
    assert logits.grad.dtype == torch.float32 and torch.isfinite(logits.grad).all()
    assert float(logits.grad.abs().sum()) > 0


def test_heldout_rows_are_scored_never_fitted(tmp_path):
    """Held-out rows change nothing in the fit; they are scored after it (the objective on
    them selects the candidate lr and epsilon)."""
    dirs = save_pair(tmp_path, layers=6)
    tok = tiny_tokenizer()
    settings = hma.FitSettings(alpha=0.4, lr=0.2, scheduler="constant", steps=8,
                               batch_size=4, max_length=32, l1_weight=0.5, seed=0)
    heldout = [("Human: what colour is the mat Assistant:", " the mat is red"),
               ("Human: Paris is in France Assistant:", " no")]
    runs = []
    for held in (None, heldout):
        model, theta_state = hma.load_pair_for_fit(*dirs)
        summary = {}
        ratios, curve = hma.fit_ratios(model, theta_state, tok, _examples(),
                                       ranges=merging.part_ranges(6, 3),
                                       policies=variants.DEFAULT_POLICIES["hma"],
                                       settings=settings, summary=summary, heldout=held)
        runs.append((ratios, curve, summary))
    assert runs[0][0] == runs[1][0] and runs[0][1] == runs[1][1]  # same fit
    assert "heldout_loss" not in runs[0][2]
    summary, ratios = runs[1][2], runs[1][0]
    assert summary["n_heldout"] == 2
    weights = hma.l1_weights(merging.part_ranges(6, 3), 6)
    l1 = 0.5 * float((weights * (torch.tensor(ratios) - 0.4).abs()).sum())
    assert summary["heldout_loss"] == pytest.approx(summary["heldout_nll"] + l1, rel=1e-5)
    assert summary["heldout_nll"] != summary["heldout_nll_at_alpha"]


def test_build_dataset_holds_out_a_seeded_split():
    tok = tiny_tokenizer()
    policy = tiny_model(tiny_config(vocab=len(WORDS)), 0)
    prompts = [f"Human: what colour is the {w} Assistant:" for w in WORDS[5:17]]
    kwargs = dict(n_top=12, n_train=6, n_heldout=3, max_new_tokens=4, temperature=1.0,
                  batch_size=4, seed=0)
    rows = hma.build_dataset(policy, None, tok, prompts, **kwargs)
    assert rows == hma.build_dataset(policy, None, tok, prompts, **kwargs)  # seeded
    train = [r for r in rows if r["split"] == "train"]
    held = [r for r in rows if r["split"] == "heldout"]
    assert len(train) == 6 and len(held) == 3
    assert not {r["prompt"] for r in train} & {r["prompt"] for r in held}
    with pytest.raises(ValueError, match="n_heldout_samples"):
        hma.build_dataset(policy, None, tok, prompts, **{**kwargs, "n_heldout": 7})


def test_select_candidate_by_least_heldout_loss():
    from alignment_tax import hma_selection

    fits = [{"lr": 2e-5, "epsilon": 0.0, "heldout_loss": 1.30, "alpha": 0.2, "K": 3,
             "ratios": [0.2, 0.2, 0.2]},
            {"lr": 1e-3, "epsilon": 0.0, "heldout_loss": 1.25, "alpha": 0.2, "K": 3,
             "ratios": [0.1, 0.3, 0.2]},
            {"lr": 1e-2, "epsilon": 0.0, "heldout_loss": 1.25, "alpha": 0.2, "K": 3,
             "ratios": [0.0, 0.4, 0.2]}]
    assert hma_selection.select_candidate(fits) == 1  # a tie goes to the earlier candidate
    record = hma_selection.selection_record(fits, 1)
    assert record["lr"] == 1e-3 and record["ratios"] == [0.1, 0.3, 0.2]
    assert [c["heldout_loss"] for c in record["candidates"]] == [1.30, 1.25, 1.25]
    with pytest.raises(ValueError, match="heldout_loss"):
        hma_selection.select_candidate([*fits, {"lr": 0.1, "epsilon": 0.0,
                                                "heldout_loss": float("nan")}])


def _bos_tokenizer():
    """The tests' word tokenizer with a BOS that it adds itself, and a chat template that
    writes one too (as Gemma's does)."""
    from tokenizers import processors

    tok = tiny_tokenizer(extra=("<s>", "USER", "ASSISTANT"))
    bos = tok.convert_tokens_to_ids("<s>")
    tok._tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A", special_tokens=[("<s>", bos)])
    tok.add_special_tokens({"bos_token": "<s>"})
    tok.chat_template = ("{{ bos_token }}{% for m in messages %}USER {{ m['content'] }} "
                         "{% endfor %}{% if add_generation_prompt %}ASSISTANT{% endif %}")
    return tok


def test_chat_prompts_one_bos_and_fit_sees_it():
    tok = _bos_tokenizer()
    (text,) = hma.chat_prompts(tok, ["what colour is the cat"])
    assert text == "USER what colour is the cat ASSISTANT"  # the template's BOS dropped ...
    ids = tok(text)["input_ids"]
    assert ids[0] == tok.bos_token_id and ids.count(tok.bos_token_id) == 1  # ... one added
    # the fit tokenises the prompt as generation did: with the BOS
    (row_ids, labels), = hma.encode_examples(tok, [(text, " red")], max_length=32)
    assert row_ids[0] == tok.bos_token_id and labels[: len(ids)] == [-100] * len(ids)
    with pytest.raises(ValueError, match="chat template"):
        hma.chat_prompts(tiny_tokenizer(), ["what colour is the cat"])


def _ultrafeedback_fixture(path, n=20):
    """A local file in the schema of HuggingFaceH4/ultrafeedback_binarized (train_prefs)."""
    words = WORDS[5:17]
    rows = [{"prompt": f"what colour is the {words[i % len(words)]} {i}", "prompt_id": str(i),
             "chosen": [], "rejected": [], "messages": [], "score_chosen": 8.0,
             "score_rejected": 5.0} for i in range(n)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return [r["prompt"] for r in rows]


def test_load_prompts_from_a_local_file_in_the_hub_schema(tmp_path):
    from alignment_tax import hub_data

    texts = _ultrafeedback_fixture(tmp_path / "uf.jsonl")
    spec = {"local_files": {"train_prefs": str(tmp_path / "uf.jsonl")}, "split": "train_prefs",
            "field": "prompt"}
    drawn = hub_data.load_prompts(spec, 5, seed=1)
    assert len(drawn) == 5 and set(drawn) <= set(texts) and len(set(drawn)) == 5
    assert drawn == hub_data.load_prompts(spec, 5, seed=1)
    assert drawn != hub_data.load_prompts(spec, 5, seed=2)
    with pytest.raises(ValueError, match="merging.hma.n_prompts"):
        hub_data.load_prompts(spec, None, seed=1)
    with pytest.raises(ValueError, match="merging.hma.n_prompts"):
        hub_data.load_prompts(spec, 21, seed=1)
    with pytest.raises(KeyError, match="merging.hma.prompts.field"):
        hub_data.load_prompts({**spec, "field": "question"}, 5, seed=1)


@pytest.mark.slow
def test_public_pair_d_theta_is_chat_templated_and_bounded(tmp_path):
    """Zephyr-style D_theta through the rules: prompts drawn from a data set in
    UltraFeedback's schema (a local file here), n_prompts of them, each rendered by theta's
    chat template; answers as long as merging.hma.max_new_tokens, not rlhf's."""
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parent.parent
    run = tmp_path / "results" / "ztest"
    tok = tiny_tokenizer(extra=("USER", "ASSISTANT"))
    tok.chat_template = ("{% for m in messages %}USER {{ m['content'] }} {% endfor %}"
                         "{% if add_generation_prompt %}ASSISTANT{% endif %}")
    cfg = tiny_config(vocab=len(tok), layers=3)
    for side, seed in (("theta0", 0), ("theta", 1)):
        tiny_model(cfg, seed).save_pretrained(run / "hub" / "tiny" / side)
        tok.save_pretrained(run / "hub" / "tiny" / side)
    texts = _ultrafeedback_fixture(tmp_path / "uf.jsonl")
    (tmp_path / "Snakefile").write_text(
        f'import sys\nsys.path.insert(0, "{repo}/workflow_scripts")\n'
        "from snakemake.utils import validate\n"
        f'configfile: "{repo}/config/zephyr.yaml"\n'
        f'validate(config, "{repo}/config/schema/config.schema.yaml")\n'
        f'include: "{repo}/rules/common.smk"\ninclude: "{repo}/rules/resources.smk"\n'
        f'include: "{repo}/rules/merging.smk"\n')
    (tmp_path / "overrides.yaml").write_text(f"""
run_name: ztest
stages: {{gpt4_judge: false, pairrm: false}}
pairs:
  - name: tiny
    theta0: {{hub_id: tiny/sft, dtype: float32}}
    theta: {{hub_id: tiny/dpo, dtype: float32}}
rlhf: {{max_new_tokens: 40, temperature: 1.0}}
merging:
  hma:
    alphas: [0.2]
    Ks: [3]
    n_prompts: 12
    n_top_samples: 12
    n_train_samples: 8
    n_heldout_samples: 3
    max_new_tokens: 4
    prompts:
      local_files: {{train_prefs: {tmp_path / "uf.jsonl"}}}
      split: train_prefs
      field: prompt
      chat_template: true
""")
    snakemake = Path(sys.executable).parent / "snakemake"
    done = subprocess.run([str(snakemake), "-s", "Snakefile", "--configfile",
                           f"{repo}/config/zephyr.yaml", "overrides.yaml", "--cores", "1",
                           "results/ztest/merging/tiny/hma_data.jsonl"],
                          cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    drawn = [json.loads(x)["prompt"]
             for x in (run / "data/prompts/hma_prompts.jsonl").read_text().splitlines()]
    assert len(drawn) == 12 and set(drawn) <= set(texts)  # bounded by n_prompts
    rows = [json.loads(x) for name in ("hma_data", "hma_heldout")
            for x in (run / f"merging/tiny/{name}.jsonl").read_text().splitlines()]
    assert len(rows) == 8 + 3
    templated = {f"USER {t} ASSISTANT" for t in drawn}
    assert all(row["prompt"] in templated for row in rows)
    # the word tokenizer decodes one token per space-separated word (an unknown word as
    # "<unk>"): 4 tokens at most, not rlhf.max_new_tokens (40)
    assert all(1 <= len(row["response"].split()) <= 4 for row in rows)
    assert max(len(row["response"].split()) for row in rows) == 4
