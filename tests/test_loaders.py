"""One loader for models and tokenizers (alignment_tax.loading), used by every stage.

- B: the config's tokenizer options (base_model.use_fast_tokenizer: false for OpenLLaMA,
  trust_remote_code) reach every place that loads a tokenizer: the rules pass them as a
  param, the scripts hand them on, the library functions pass them to the loader.
- C: every loader of weights refuses a folder that holds only pickled weights
  (pytorch_model.bin), naming the folder, before anything is unpickled.
"""

from __future__ import annotations

import json
import re
import runpy
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import yaml
from alignment_tax import loading, merging, recipes
from test_merging import save_pair, tiny_config, tiny_model, tiny_tokenizer

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = REPO / "workflow_scripts"
LIBRARY = SCRIPTS / "alignment_tax"
# what loads a model or a tokenizer in a rule script
LOADER_CALLS = (
    "load_variant",
    "load_tokenizer",
    "load_pair_for_fit",
    "load_reward_model",
    "load_causal_lm",
    "load_sequence_classifier",
    "ModelCache(",
    "load_pairrm",
)


class Files(dict):
    """Stand-in for Snakemake's named lists (attribute access, [0], keys, get, items)."""

    def __getattr__(self, key):
        try:
            return self[key]
        except KeyError:
            raise AttributeError(key) from None

    def __getitem__(self, key):
        if isinstance(key, int):
            return list(self.values())[key]
        return super().__getitem__(key)


def run_rule_script(name: str, monkeypatch, *, input, output=None, params, wildcards=None):
    """Run workflow_scripts/<name>.py as Snakemake would, in this process, warm worker off."""
    monkeypatch.setenv("ALIGNMENT_TAX_WARM_WORKER", "0")
    job = SimpleNamespace(
        input=Files(input),
        output=Files(output or {}),
        params=Files(params),
        wildcards=Files(wildcards or {}),
        log=[],
        rule=name,
        scriptdir=str(SCRIPTS),
    )
    runpy.run_path(str(SCRIPTS / f"{name}.py"), init_globals={"snakemake": job})


@pytest.fixture
def record_tokenizers(monkeypatch):
    """Every AutoTokenizer.from_pretrained call's keyword arguments (then loads it fast:
    the tests' tokenizer has no slow class)."""
    from transformers import AutoTokenizer

    calls = []
    original = AutoTokenizer.from_pretrained.__func__

    def record(cls, path, *args, **kwargs):
        calls.append({"path": str(path), **kwargs})
        kwargs["use_fast"] = True
        return original(cls, path, *args, **kwargs)

    monkeypatch.setattr(AutoTokenizer, "from_pretrained", classmethod(record))
    return calls


class Stop(Exception):
    """Raised in place of the expensive part of a rule script: its loading is done."""


def _stop(*args, **kwargs):
    raise Stop


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    root = tmp_path_factory.mktemp("pair")
    dirs = save_pair(root, layers=3)
    from transformers import LlamaForSequenceClassification

    cfg = tiny_config(layers=2)
    cfg.num_labels, cfg.pad_token_id = 1, tiny_tokenizer().pad_token_id
    torch.manual_seed(3)
    LlamaForSequenceClassification(cfg).save_pretrained(root / "rm")
    tiny_tokenizer().save_pretrained(root / "rm")
    recipe = recipes.make_recipe(
        "rsf/ma/alpha0.5",
        theta0=dirs[0],
        theta=dirs[1],
        layer_ratios=[0.5] * 3,
        global_ratio=0.5,
        policies={"norms": "part", "embeddings": "part", "lm_head": "part"},
        meta={"method": "ma", "alpha": 0.5},
    )
    (root / "recipe.json").write_text(json.dumps(recipe))
    prompts = root / "prompts.jsonl"
    prompts.write_text(
        "".join(
            json.dumps({"prompt": f"Human: the {w} Assistant:"}) + "\n"
            for w in ("cat", "dog", "mat", "red")
        )
    )
    return SimpleNamespace(
        theta0=dirs[0],
        theta=dirs[1],
        rm=str(root / "rm"),
        recipe=str(root / "recipe.json"),
        prompts=str(prompts),
        root=root,
    )


SLOW_TOKENIZER = {"use_fast": False, "trust_remote_code": False}


# --------------------------------------------------------------------------- B: options


def test_loading_options_follow_the_config():
    options = {}
    for path in sorted((REPO / "config").glob("*.yaml")):
        config = yaml.safe_load(path.read_text())
        options[path.name] = loading.loading_options(config)
        base = config.get("base_model") or {}
        assert options[path.name] == {
            "use_fast": base.get("use_fast_tokenizer", True),
            "trust_remote_code": base.get("trust_remote_code", False),
        }
    assert options["paper.yaml"]["use_fast"] is False  # OpenLLaMA: the slow tokenizer


def test_public_pairs_use_their_own_loading_options():
    config = yaml.safe_load((REPO / "config" / "zephyr.yaml").read_text())
    pair = config["pairs"][0]
    pair["theta"]["use_fast_tokenizer"] = False
    pair["theta0"]["trust_remote_code"] = pair["theta"]["trust_remote_code"] = True
    assert loading.loading_options(config, pair["name"]) == {
        "use_fast": False,
        "trust_remote_code": True,
    }
    pair["theta0"]["trust_remote_code"] = False  # only when both sides ask
    assert loading.loading_options(config, pair["name"])["trust_remote_code"] is False
    other = config["pairs"][1]["name"]
    assert loading.loading_options(config, other) == {"use_fast": True, "trust_remote_code": False}


def _rules() -> dict[str, str]:
    """rule name -> its text, from every rules/*.smk."""
    out = {}
    for smk in sorted((REPO / "rules").glob("*.smk")):
        parts = re.split(r"^rule (\w+):\n", smk.read_text(), flags=re.M)
        for name, body in zip(parts[1::2], parts[2::2], strict=True):
            out[name] = body.split("\n\n\n")[0]
    return out


def test_every_rule_that_loads_a_model_passes_the_loading_options():
    """A rule whose script loads a model or tokenizer gets loading_options(config) as the
    param `loading`, and its script hands `loading` on."""
    checked = []
    for name, body in _rules().items():
        match = re.search(r'script:\s*\n\s*"\.\./(workflow_scripts/[\w/]+\.py)"', body)
        if not match:
            continue
        script = (REPO / match.group(1)).read_text()
        if not any(call in script for call in LOADER_CALLS) or "training_common" in script:
            continue  # training stages: rules/common.smk's model kwargs (use_fast, ...)
        if "load_pairrm" in script:
            continue  # PairRM is its own model, not the policy: default options
        checked.append(name)
        assert re.search(r"loading=(lambda w: )?loading_options\(config\b", body), (
            f"rule {name}: no loading param"
        )
        assert re.search(r"\b(p|params|snakemake\.params)\.loading\b", script), (
            f"rule {name}: {match.group(1)} does not pass params.loading on"
        )
    assert {
        "evaluate_reward",
        "evaluate_benchmark",
        "build_hma_dataset",
        "fit_hma",
        "export_recipe",
    } <= set(checked)


def test_only_the_loader_calls_from_pretrained():
    """No stage loads weights or tokenizers behind the loader's back."""
    allowed = {
        "loading.py",
        "pretraining.py",  # the toy tokenizer trained in this workflow, no checkpoint
        "baselines.py",  # PeftModel.from_pretrained after require_safetensors(adapter)
        "gguf_model.py",  # converts a GGUF file (no pickle) into a safetensors checkpoint
    }
    offenders = []
    for path in sorted(SCRIPTS.rglob("*.py")):
        if path.name in allowed:
            continue
        for no, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"\.from_pretrained\(", line) and not line.lstrip().startswith("#"):
                offenders.append(f"{path.relative_to(REPO)}:{no}: {line.strip()}")
    assert not offenders, offenders


def test_library_loaders_pass_the_tokenizer_options(pair, record_tokenizers):
    from alignment_tax import eval_models
    from alignment_tax.training_common import stage_loading

    eval_models.load_variant(pair.recipe, **SLOW_TOKENIZER)
    eval_models.load_reward_model(pair.rm, **SLOW_TOKENIZER)
    recipes.load_tokenizer(pair.recipe, **SLOW_TOKENIZER)
    recipes.export_recipe(pair.recipe, pair.root / "export", **SLOW_TOKENIZER)
    stage_loading(pair.theta0, {"use_fast": False})
    assert len(record_tokenizers) >= 5  # the pair checks read both vocabularies too
    assert all(call["use_fast"] is False for call in record_tokenizers), record_tokenizers
    assert all(call["trust_remote_code"] is False for call in record_tokenizers)


def test_evaluate_reward_script_passes_the_options(pair, record_tokenizers, monkeypatch):
    from alignment_tax import reward_eval

    monkeypatch.setattr(reward_eval, "evaluate_reward", _stop)
    with pytest.raises(Stop):
        run_rule_script(
            "evaluate_reward",
            monkeypatch,
            input={"recipe": pair.recipe, "reward_model": pair.rm, "prompts": pair.prompts},
            params={
                "seed": 0,
                "hidden_reward": False,
                "dtype": "float32",
                "n_prompts": 2,
                "max_new_tokens": 4,
                "temperature": 1.0,
                "batch_size": 2,
                "reward_max_length": None,
                "loading": SLOW_TOKENIZER,
            },
            wildcards={"variant": "rsf/ma/alpha0.5"},
        )
    assert {Path(c["path"]).name for c in record_tokenizers} >= {"rm", "theta"}
    assert all(call["use_fast"] is False for call in record_tokenizers), record_tokenizers


def test_hma_scripts_pass_the_options(pair, record_tokenizers, monkeypatch, tmp_path):
    """build_hma_dataset (policy, reward model) and fit_hma (theta's tokenizer)."""
    from alignment_tax import hma

    monkeypatch.setattr(hma, "build_dataset", _stop)
    with pytest.raises(Stop):
        run_rule_script(
            "build_hma_dataset",
            monkeypatch,
            input={"reward_model": pair.rm, "theta": pair.theta, "prompts": pair.prompts},
            output={"data": str(tmp_path / "d.jsonl"), "heldout": str(tmp_path / "h.jsonl")},
            params={
                "seed": 0,
                "n_prompts": None,
                "n_top": 4,
                "n_train": 2,
                "n_heldout": 1,
                "chat_template": False,
                "max_new_tokens": 4,
                "temperature": 1.0,
                "batch_size": 2,
                "dtype": "float32",
                "loading": SLOW_TOKENIZER,
            },
            wildcards={"pair": "rsf"},
        )
    assert {Path(c["path"]).name for c in record_tokenizers} >= {"rm", "theta"}
    assert all(call["use_fast"] is False for call in record_tokenizers), record_tokenizers

    record_tokenizers.clear()
    monkeypatch.setattr(hma, "fit_ratios", _stop)
    (tmp_path / "pair.json").write_text(json.dumps({"num_layers": 3}))
    rows = "".join(
        json.dumps({"prompt": "Human: hi Assistant:", "response": " yes"}) + "\n" for _ in range(3)
    )
    (tmp_path / "data.jsonl").write_text(rows)
    spec = {
        "theta0": pair.theta0,
        "theta": pair.theta,
        "K": 3,
        "part_boundaries": None,
        "meta": {"alpha": 0.3},
        "policies": {"norms": "theta0", "embeddings": "theta0", "lm_head": "alpha"},
    }
    with pytest.raises(Stop):
        run_rule_script(
            "fit_hma",
            monkeypatch,
            input={
                "pair": str(tmp_path / "pair.json"),
                "data": str(tmp_path / "data.jsonl"),
                "heldout": str(tmp_path / "data.jsonl"),
            },
            params={
                "spec": spec,
                "seed": 0,
                "dtype": "float32",
                "lr": 0.1,
                "epsilon": 0.0,
                "scheduler": "constant",
                "warmup_ratio": 0.0,
                "epochs": 1,
                "batch_size": 2,
                "block_size": 16,
                "l1_weight": 0.0,
                "loading": SLOW_TOKENIZER,
            },
        )
    assert "theta" in {Path(c["path"]).name for c in record_tokenizers}
    assert all(call["use_fast"] is False for call in record_tokenizers), record_tokenizers


# --------------------------------------------------------------------------- C: pickles


@pytest.fixture(scope="module")
def pickled(tmp_path_factory):
    """Folders holding config.json + pytorch_model.bin (+ tokenizer) and no safetensors."""
    from transformers import LlamaForSequenceClassification

    root = tmp_path_factory.mktemp("pickled")
    out = {}
    cfg = tiny_config(layers=3)
    for name in ("lm", "lm_b"):
        model = tiny_model(cfg, 0)
        model.config.save_pretrained(root / name)
        torch.save(model.state_dict(), root / name / "pytorch_model.bin")
        tiny_tokenizer().save_pretrained(root / name)
        out[name] = root / name
    rm_cfg = tiny_config(layers=2)
    rm_cfg.num_labels = 1
    rm = LlamaForSequenceClassification(rm_cfg)
    rm.config.save_pretrained(root / "rm")
    torch.save(rm.state_dict(), root / "rm" / "pytorch_model.bin")
    tiny_tokenizer().save_pretrained(root / "rm")
    out["rm"] = root / "rm"
    return out


def _plain_recipe(folder, tmp_path):
    recipe = recipes.make_recipe(
        "sft",
        theta0=str(folder),
        theta=str(folder),
        layer_ratios=[1.0] * 3,
        global_ratio=1.0,
        policies={"norms": "part", "embeddings": "part", "lm_head": "part"},
        meta={"method": "plain", "alpha": 1.0},
    )
    path = tmp_path / "plain.json"
    path.write_text(json.dumps(recipe))
    return path


def _pairrm(folder):
    import importlib.util

    if importlib.util.find_spec("llm_blender") is None:
        pytest.skip("llm-blender is not installed")
    from alignment_tax.pairrm import load_pairrm

    load_pairrm(str(folder), device="cpu")


LOADERS = {
    "loading.load_causal_lm": lambda f, t: loading.load_causal_lm(f["lm"]),
    "loading.load_sequence_classifier": lambda f, t: loading.load_sequence_classifier(f["rm"]),
    "training_common.load_causal_lm": lambda f, t: __import__(
        "alignment_tax.training_common", fromlist=["x"]
    ).load_causal_lm(f["lm"]),
    "training_common.load_reward_model": lambda f, t: __import__(
        "alignment_tax.training_common", fromlist=["x"]
    ).load_reward_model(f["rm"]),
    "eval_models.load_reward_model": lambda f, t: __import__(
        "alignment_tax.eval_models", fromlist=["x"]
    ).load_reward_model(f["rm"]),
    "eval_models.load_variant (plain model)": lambda f, t: __import__(
        "alignment_tax.eval_models", fromlist=["x"]
    ).load_variant(_plain_recipe(f["lm"], t)),
    "recipes.materialize (pair)": lambda f, t: recipes.materialize(
        {**recipes.load_recipe(_plain_recipe(f["lm"], t)), "theta": str(f["lm_b"])}
    ),
    "merging.validate_pair": lambda f, t: merging.validate_pair(f["lm"], f["lm_b"]),
    "hma.load_pair_for_fit": lambda f, t: __import__(
        "alignment_tax.hma", fromlist=["x"]
    ).load_pair_for_fit(str(f["lm"]), str(f["lm_b"])),
    "pairrm.load_pairrm": lambda f, t: _pairrm(f["rm"]),
}


@pytest.mark.parametrize("loader", sorted(LOADERS))
def test_pickled_weights_are_refused(loader, pickled, tmp_path, monkeypatch):
    unpickled = []
    original = torch.load
    monkeypatch.setattr(torch, "load", lambda *a, **k: unpickled.append(a) or original(*a, **k))
    with pytest.raises(FileNotFoundError) as err:
        LOADERS[loader](pickled, tmp_path)
    message = str(err.value)
    assert "pytorch_model.bin" in message and "never loaded" in message, message
    assert any(str(pickled[name]) in message for name in ("lm", "lm_b", "rm")), message
    assert not unpickled


def test_lora_adapter_must_be_safetensors(tmp_path):
    (tmp_path / "adapter_model.bin").write_bytes(b"\x80\x04")
    with pytest.raises(FileNotFoundError, match="adapter_model.safetensors.*never loaded"):
        loading.require_safetensors(tmp_path, "LoRA adapter", pattern="adapter_model.safetensors")
