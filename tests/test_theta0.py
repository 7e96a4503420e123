"""theta0 (the merge endpoint and the start of RLHF) is one config switch, ``sft.theta0``.

The paper's section 3: "We commenced with instruction fine-tuning for theta_pre on ShareGPT,
which yielded theta0. Subsequently, RLHF was performed on theta0" (README, "theta0").
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from alignment_tax.sft import HH_KEYS, rule_params, theta0_recipe

REPO = Path(__file__).resolve().parents[1]


def test_paper_config_takes_the_sharegpt_model_as_theta0():
    paper = yaml.safe_load((REPO / "config" / "paper.yaml").read_text())
    assert paper["sft"]["theta0"] == "sharegpt"
    # Table 3's HH-RLHF SFT epoch is PPO's warm-up on preferred answers (appendix D.2)
    assert paper["rlhf"]["ppo"]["warmup_sft_epochs"] == 1
    toy = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    assert toy["sft"]["theta0"] == "sharegpt"


def test_the_switch_decides_which_keys_reach_the_rule():
    sft = {"epochs": 1, "lr": 1e-3, "hh_epochs": 1, "hh_lr": 1e-4, "hh_batch_size": 8}
    assert theta0_recipe(sft) == "sharegpt"  # the default
    plain = rule_params({**sft, "theta0": "sharegpt"})
    assert not set(HH_KEYS) & set(plain) and plain["theta0"] == "sharegpt"
    assert rule_params({**sft, "theta0": "sharegpt_then_hh"}) == {
        **sft,
        "theta0": "sharegpt_then_hh",
    }
    with pytest.raises(ValueError, match="sft.theta0"):
        theta0_recipe({"theta0": "hh"})


torch = pytest.importorskip("torch")
pytest.importorskip("trl")


def test_sharegpt_then_hh_adds_the_hh_phase_and_sharegpt_ignores_it(tmp_path):
    from alignment_tax.sft import train_sft
    from safetensors.torch import load_file
    from test_training import SFT, make_tiny_setup

    torch.set_num_threads(1)
    data, base = make_tiny_setup(tmp_path)
    hh = data / "hh_rlhf" / "train.jsonl"

    def run(name, params, hh_path):
        out = tmp_path / name
        train_sft(
            base,
            data / "sharegpt.json",
            out,
            tmp_path / f"work_{name}",
            params,
            seed=1,
            hh_train_path=hh_path,
        )
        return load_file(str(out / "model.safetensors"))

    sharegpt = run("sharegpt", {**SFT, "theta0": "sharegpt", "hh_epochs": 1}, hh)
    no_hh_file = run("no_hh_file", {**SFT, "theta0": "sharegpt"}, None)
    both = run("both", {**SFT, "theta0": "sharegpt_then_hh", "hh_epochs": 1}, hh)
    assert all(torch.equal(sharegpt[k], no_hh_file[k]) for k in sharegpt)
    assert any(not torch.equal(sharegpt[k], both[k]) for k in sharegpt)
    with pytest.raises(ValueError, match="sft.theta0"):
        train_sft(
            base,
            data / "sharegpt.json",
            tmp_path / "x",
            tmp_path / "wx",
            {**SFT, "theta0": "sharegpt_then_hh"},
            seed=1,
            hh_train_path=None,
        )
