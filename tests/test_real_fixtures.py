"""Generated files in the public data sets' own schemas, read by the loaders that read the
hub copies (``local_files`` in a data set spec), and the config keys that point at them."""

import ast
import copy

import pytest
from alignment_tax import real_schema_fixtures as fx
from alignment_tax.hub_data import (
    load_hub_dataset,
    prepare_paper_data,
    sharegpt_to_records,
    split_hh_dialogue,
)
from alignment_tax.io import read_json, read_jsonl
from conftest import REPO, load_config, run_snakemake

N = 12


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory):
    out = tmp_path_factory.mktemp("fixtures")
    return out, fx.write_fixtures(out, seed=3, n_items=N)


def _bytes(paths):
    return {name: path.read_bytes() for name, path in paths.items()}


def test_fixtures_are_deterministic_in_the_seed(fixtures, tmp_path):
    _, paths = fixtures
    again = fx.write_fixtures(tmp_path / "again", seed=3, n_items=N)
    assert _bytes(again) == _bytes(paths)
    other = _bytes(fx.write_fixtures(tmp_path / "other", seed=4, n_items=N))
    changed = {name for name, data in _bytes(paths).items() if other[name] != data}
    # every data set drawn from a bank is reshuffled by the seed (the pretraining text is not)
    assert changed == set(fx.FIXTURE_FILES) - {"pretrain_sample"}
    assert sorted(p.relative_to(tmp_path / "again").as_posix() for p in again.values()) == sorted(
        fx.FIXTURE_FILES.values()
    )
    assert not list((tmp_path / "again").rglob("*.tmp"))  # atomic writes left nothing behind


def test_item_count_is_bounded():
    with pytest.raises(ValueError, match="n_items"):
        fx.fixture_rows(0, fx.MAX_ITEMS + 1)
    rows = fx.fixture_rows(0, fx.MAX_ITEMS)
    assert all(len(rows[name]) == fx.MAX_ITEMS for name in fx.BENCHMARK_FIXTURES)


def test_sharegpt_and_hh_rlhf_through_the_paper_loader(fixtures, tmp_path):
    out, paths = fixtures
    datasets = {
        "sharegpt": {"local_files": str(paths["sharegpt"])},
        "hh_rlhf": {
            "local_files": {
                "train": str(paths["hh_rlhf_train"]),
                "test": str(paths["hh_rlhf_test"]),
            }
        },
    }
    names = ("sharegpt", "hh_train", "hh_test", "rlhf_prompts", "eval_prompts")
    written = {name: str(tmp_path / f"{name}.json") for name in names}
    prepare_paper_data(datasets, written, seed=0)
    sharegpt = read_json(written["sharegpt"])
    assert len(sharegpt) == N  # every fixture conversation alternates human/gpt
    assert sharegpt == sharegpt_to_records(read_json(paths["sharegpt"]))
    train, test = read_jsonl(written["hh_train"]), read_jsonl(written["hh_test"])
    assert (len(train), len(test)) == (N, N // 3)
    prompts = read_jsonl(written["rlhf_prompts"])
    assert all(p["prompt"].endswith("\n\nAssistant:") for p in prompts)
    for pair in train + test:
        assert pair["chosen"].startswith("\n\nHuman: ")
        chosen_prompt, chosen = split_hh_dialogue(pair["chosen"])
        rejected_prompt, rejected = split_hh_dialogue(pair["rejected"])
        assert chosen_prompt == rejected_prompt and chosen != rejected
    # train and test hold different questions
    assert not {p["prompt"] for p in prompts} & {
        p["prompt"] for p in read_jsonl(written["eval_prompts"])
    }


def test_ultrafeedback_alpaca_eval_and_pretraining_sample(fixtures, tmp_path):
    from alignment_tax.baselines import write_pretrain_sample
    from alignment_tax.pairrm import alpaca_eval_records, fetch_alpaca_eval

    _, paths = fixtures
    spec = {
        "local_files": {
            "train_prefs": str(paths["ultrafeedback_train_prefs"]),
            "test_prefs": str(paths["ultrafeedback_test_prefs"]),
        },
        "split": "test_prefs",
    }
    rows = load_hub_dataset(spec, "datasets.ultrafeedback")
    assert set(rows.column_names) == {
        "prompt",
        "prompt_id",
        "chosen",
        "rejected",
        "messages",
        "score_chosen",
        "score_rejected",
    }
    for row in rows:
        assert [m["role"] for m in row["chosen"]] == ["user", "assistant"]
        assert row["chosen"][0]["content"] == row["prompt"] == row["rejected"][0]["content"]
        assert row["score_chosen"] > row["score_rejected"]
    alpaca = alpaca_eval_records(fetch_alpaca_eval({"local_files": str(paths["alpaca_eval"])}))
    assert len(alpaca) == N and all(r["reference"] and r["dataset"] for r in alpaca)
    n = write_pretrain_sample(
        {"local_files": str(paths["pretrain_sample"])}, tmp_path / "pretrain.jsonl", seed=0
    )
    assert n == len(read_jsonl(paths["pretrain_sample"])) > N


def test_benchmark_rows_in_the_data_sets_schemas(fixtures):
    out, _ = fixtures
    rows = {name: read_jsonl(out / fx.FIXTURE_FILES[name]) for name in fx.BENCHMARK_FIXTURES}
    for name in ("arc_easy", "arc_challenge"):
        for row in rows[name]:
            assert len(row["choices"]["text"]) == 4
            assert row["answerKey"] in row["choices"]["label"]
        assert {r["choices"]["label"][0] for r in rows[name]} == {"A", "1"}  # both ARC styles
    for row in rows["race"]:
        problems = ast.literal_eval(row["problems"])  # as lm-eval's preprocess_race reads it
        assert all(p["answer"] in "ABCD" and len(p["options"]) == 4 for p in problems)
    assert {r["label"] for r in rows["piqa"]} == {0, 1}
    for row in rows["squadv2"]:
        for text, start in zip(row["answers"]["text"], row["answers"]["answer_start"], strict=True):
            assert row["context"][start : start + len(text)] == text
    assert any(not r["answers"]["text"] for r in rows["squadv2"])  # unanswerable ones too
    for row in rows["drop"]:
        answer = row["answer"]
        assert answer["number"] or answer["spans"] or answer["date"]["year"]
        assert row["validated_answers"]["number"] == [answer["number"]]
    assert all(set(r["translation"]) == {"fr", "en"} for r in rows["wmt14-fr-en"])


def test_squadv2_train_fixture_shares_no_item_with_the_evaluated_one(fixtures):
    """AdaMerging fits on the train fixture; the squadv2 benchmark fixture is evaluated."""
    _, paths = fixtures
    train = read_jsonl(paths["squadv2_train"])
    evaluated = read_jsonl(paths["squadv2"])
    assert len(train) == N and set(train[0]) == set(evaluated[0])
    assert not {r["context"] for r in train} & {r["context"] for r in evaluated}
    assert not {r["question"] for r in train} & {r["question"] for r in evaluated}
    for row in train:  # answer spans lie in their passage, as in the hub copy
        for text, start in zip(row["answers"]["text"], row["answers"]["answer_start"], strict=True):
            assert row["context"][start : start + len(text)] == text


def test_local_files_errors_name_the_key(fixtures, tmp_path):
    _, paths = fixtures
    with pytest.raises(FileNotFoundError, match="datasets.hh_rlhf.local_files"):
        load_hub_dataset({"local_files": str(tmp_path / "none.jsonl")}, "datasets.hh_rlhf")
    one_file = {"local_files": str(paths["hh_rlhf_train"]), "split": "test"}
    with pytest.raises(KeyError, match="datasets.hh_rlhf.local_files.*'test'"):
        load_hub_dataset(one_file, "datasets.hh_rlhf")
    (tmp_path / "rows.txt").write_text("x\n")
    with pytest.raises(ValueError, match="datasets.sharegpt.local_files"):
        load_hub_dataset({"local_files": str(tmp_path / "rows.txt")}, "datasets.sharegpt")
    from alignment_tax.pairrm import fetch_alpaca_eval

    with pytest.raises(FileNotFoundError, match="datasets.alpaca_eval.local_files"):
        fetch_alpaca_eval({"local_files": str(tmp_path / "none.json")})


# ------------------------------------------------------------------ config keys
FIXTURES = "results/fixture_test/data/fixtures"


def local_paper_config() -> dict:
    """The paper config with every data set and benchmark on the fixture files."""
    config = load_config("paper")
    config["run_name"] = "fixture_test"
    files = {k: f"{FIXTURES}/{v}" for k, v in fx.FIXTURE_FILES.items()}
    config["datasets"] = {
        "sharegpt": {"local_files": files["sharegpt"]},
        "hh_rlhf": {
            "local_files": {"train": files["hh_rlhf_train"], "test": files["hh_rlhf_test"]}
        },
        "pretrain_sample": {"local_files": files["pretrain_sample"]},
        "alpaca_eval": {"local_files": files["alpaca_eval"]},
        "squadv2_train": {"local_files": {"train": files["squadv2_train"]}},
    }
    config["merging"]["adamerging"]["n_train_samples"] = 4
    config["fixtures"] = {"n_items": 8}
    config["evaluation"]["local_task_data"] = {t: files[t] for t in fx.BENCHMARK_FIXTURES}
    return config


def _validated(config):
    from alignment_tax.config_checks import check_config
    from snakemake.utils import validate

    config = copy.deepcopy(config)
    validate(config, str(REPO / "config" / "schema" / "config.schema.yaml"))
    check_config(config)
    return config


def test_config_keys_validate_and_bad_ones_are_named():
    import yaml
    from alignment_tax.benchmarks import REAL_TASKS
    from alignment_tax.config_checks import ConfigError
    from snakemake.exceptions import WorkflowError

    schema = yaml.safe_load((REPO / "config" / "schema" / "config.schema.yaml").read_text())
    local_task_data = schema["properties"]["evaluation"]["properties"]["local_task_data"]
    assert set(local_task_data["propertyNames"]["enum"]) == set(REAL_TASKS)
    assert set(fx.BENCHMARK_FIXTURES) == set(REAL_TASKS)
    _validated(local_paper_config())
    both = local_paper_config()
    both["datasets"]["sharegpt"]["hub_id"] = "anon/sharegpt"  # hub and local at once
    neither = local_paper_config()
    neither["datasets"]["sharegpt"] = {"split": "train"}
    unknown = local_paper_config()
    unknown["evaluation"]["local_task_data"]["boolq"] = f"{FIXTURES}/boolq.jsonl"
    for bad, needle in ((both, "sharegpt"), (neither, "sharegpt"), (unknown, "boolq")):
        with pytest.raises(WorkflowError, match=needle):
            _validated(bad)
    unlisted = local_paper_config()
    unlisted["evaluation"]["benchmarks"]["reading"] = ["squadv2"]
    with pytest.raises(ConfigError, match="local_task_data.*drop"):
        _validated(unlisted)
    toy = load_config("config")
    toy["evaluation"]["local_task_data"] = {"arc_easy": f"{FIXTURES}/arc_easy.jsonl"}
    with pytest.raises(ConfigError, match="local_task_data"):
        _validated(toy)


def test_workflow_builds_fixtures_before_the_jobs_that_read_them(tmp_path):
    import yaml

    config_file = tmp_path / "local.yaml"
    config_file.write_text(yaml.safe_dump(local_paper_config()))
    snakemake = (
        "-s",
        str(REPO / "Snakefile"),
        "-d",
        str(tmp_path),
        "--configfile",
        str(config_file),
        "--cores",
        "1",
    )
    # the data jobs run (in tmp_path): fixtures, then the loaders of the hub copies
    data = [
        "results/fixture_test/data/sharegpt.json",
        "results/fixture_test/data/alpaca_eval.jsonl",
        "results/fixture_test/data/adamerging/reading_fit.jsonl",
    ]
    result = run_snakemake(*snakemake, *data)
    assert result.returncode == 0, result.stderr[-3000:]
    log = result.stdout + result.stderr
    assert log.index("rule make_real_schema_fixtures:") < log.index("rule prepare_hub_data:")
    assert len(read_json(tmp_path / data[0])) == 8  # fixtures.n_items ShareGPT rows
    assert len(read_jsonl(tmp_path / data[1])) == 8
    # AdaMerging's fit data: SQuAD v2 train rows in lm-eval's squadv2 prompt
    fit_rows = read_jsonl(tmp_path / data[2])
    assert len(fit_rows) == 4 and {r["task"] for r in fit_rows} == {"squadv2"}
    assert all(r["prompt"].startswith("Title: ") for r in fit_rows)
    # the benchmark files reach the evaluation job as inputs (planned only)
    result = run_snakemake(*snakemake, "-n", "results/fixture_test/eval/sft/reading.json")
    assert result.returncode == 0, result.stderr[-3000:]
    evaluation = result.stdout[result.stdout.index("rule evaluate_benchmark:") :]
    assert f"{FIXTURES}/benchmarks/drop.jsonl" in evaluation
