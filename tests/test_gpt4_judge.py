"""The GPT-4 judge (table 1): alpaca_eval's AlpacaEval 2.0 annotator against a local
OpenAI-compatible stub server, end to end (request, numbers, cache, key hygiene).

The stub is the workflow's loopback judge (alignment_tax.loopback_judge): it answers
/v1/chat/completions with one token and the top log-probabilities of "m" and "M", as the
weighted annotator reads them. Each model answer carries a canned
probability that the judge prefers it; the stub finds which of the two outputs in the
prompt is the model's and answers accordingly. Nothing here touches the network.
"""

from __future__ import annotations

import json
import math
import secrets
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import REPO, load_config, require_gguf_of, run_snakemake

sys.path.insert(0, str(REPO / "workflow_scripts"))
from alignment_tax import alpaca_eval_judge, eval_plan, pairrm  # noqa: E402
from alignment_tax.loopback_judge import LoopbackJudge  # noqa: E402

JUDGE_MODEL = "stub-judge-1"
# model answers longer than the reference are preferred with 0.9, shorter ones with 0.4
P_LONGER, P_SHORTER = 0.9, 0.4
N_ANSWERS = 8
REFERENCE_LEN, LONGER_LEN, SHORTER_LEN = 100, 140, 60
PROMPT_MARKER = "select the model that produces the best output from a human perspective"


def _padded(text: str, length: int) -> str:
    return (text + " " + "x" * length)[:length]


def canned_answers(folder: Path, n: int = N_ANSWERS) -> tuple[list[dict], list[float]]:
    """Answers as generate_alpaca_answers writes them, and the probability the stub gives
    each model answer. The references come through the workflow's AlpacaEval loader
    (rule prepare_alpaca_eval's), pointed at a local file in the hub file's schema."""
    reference_file = folder / "alpaca_eval_gpt4_baseline.json"
    reference_file.write_text(json.dumps([
        {"instruction": f"Instruction number {i}: describe item {i}.",
         "output": _padded(f"REFERENCE-{i}", REFERENCE_LEN),
         "generator": "gpt4_1106_preview", "dataset": "stub"} for i in range(n)]))
    records = pairrm.alpaca_eval_records(
        pairrm.fetch_alpaca_eval({"local_files": str(reference_file)}))
    rows, probs = [], []
    for i, record in enumerate(records):
        longer = i % 2 == 0
        rows.append({**record,
                     "output": _padded(f"ANSWER-{i}", LONGER_LEN if longer else SHORTER_LEN)})
        probs.append(P_LONGER if longer else P_SHORTER)
    return rows, probs


def write_glm_data(path: Path, n: int = N_ANSWERS) -> None:
    """A df_gamed.csv of AlpacaEval's layout (two gamed baselines x n instructions) whose
    rows carry no signal (difficulty 0, no length difference, preference 0.5), so the
    length-controlled win rate has a closed form (see test_stub_server_end_to_end)."""
    rows = [{"model": model, "index": i, "instruction_difficulty": 0.0, "preference": 0.5,
             "std_delta_len": 0.0, "not_gamed_baseline": False}
            for model in ("gamed_concise", "gamed_verbose") for i in range(n)]
    pd.DataFrame(rows).to_csv(path, index=False)


class CannedVerdict:
    """The verdict of StubJudge: each model answer's canned probability, turned into
    P("m" is better) by which of the two outputs ("m" first) is the model's."""

    def __init__(self, probs: dict[str, float]):
        self.probs = probs  # model answer marker -> P(judge prefers the model answer)
        self.unusable: set[str] = set()  # markers answered without the "m"/"M" log-probs

    def __call__(self, output_1: str, output_2: str) -> float | None:
        (marker, p_model), = [(k, p) for k, p in self.probs.items()
                              if f"ANSWER-{k} " in output_1 + output_2]
        if marker in self.unusable:
            return None
        return p_model if f"ANSWER-{marker} " in output_1 else 1 - p_model


def StubJudge(probs: dict[str, float]) -> LoopbackJudge:  # noqa: N802 (reads as a class)
    """The workflow's loopback server (alignment_tax.loopback_judge) with canned verdicts."""
    return LoopbackJudge(CannedVerdict(probs))


def _files_under(*roots: Path) -> list[Path]:
    return [p for root in roots if root.exists() for p in root.rglob("*") if p.is_file()]


def _assert_secret_absent(secret: str, files: list[Path], *texts: str) -> None:
    assert files, "the run wrote no files to check"
    for path in files:
        assert secret.encode() not in path.read_bytes(), f"the API key leaked into {path}"
    for text in texts:
        assert secret not in text


def _logistic(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


def hand_computed_rates(probs: list[float]) -> tuple[float, float]:
    """(win rate, LC win rate) in percent for canned_answers' design.

    Win rate: the mean preference. LC: the GLM is logit P = w_len * tanh(std_delta_len)
    + w_diff * difficulty + w_base (difficulty 0 here, the gamed rows carry no signal);
    the model rows form two groups, std_delta_len = +-s, with preferences P_SHORTER and
    P_LONGER, which the GLM fits exactly: w_base = (logit P_LONGER + logit P_SHORTER) / 2;
    LC = logistic(w_base), the preference at zero length difference.
    """
    win_rate = 100 * sum(probs) / len(probs)
    lc = 100 * _logistic((_logit(P_LONGER) + _logit(P_SHORTER)) / 2)
    return win_rate, lc


def test_stub_server_end_to_end(tmp_path, monkeypatch, caplog):
    secret = "sk-test-" + secrets.token_hex(16)
    monkeypatch.setenv("STUB_JUDGE_KEY", secret)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # no download may happen, not even by accident
    answers, probs = canned_answers(tmp_path)
    assert answers[0]["reference_generator"] == "gpt4_1106_preview"
    glm_data = tmp_path / "df_gamed.csv"
    write_glm_data(glm_data)
    cache_root = tmp_path / "cache"
    kwargs = dict(variant="pair/theta", glm_data=glm_data, cache_root=cache_root,
                  model=JUDGE_MODEL, api_key_env="STUB_JUDGE_KEY")
    caplog.set_level("DEBUG")
    with StubJudge({str(i): p for i, p in enumerate(probs)}) as stub:
        result = alpaca_eval_judge.evaluate_gpt4(answers, base_url=stub.base_url, **kwargs)
        first_requests = list(stub.requests)
        rerun = alpaca_eval_judge.evaluate_gpt4(answers, base_url=stub.base_url, **kwargs)
        rerun_requests = stub.requests[len(first_requests):]

    # the requests reached the stub: one per answer, the annotator's prompt, our model
    assert len(first_requests) == N_ANSWERS
    for request in first_requests:
        assert request["path"] == "/v1/chat/completions"
        assert request["body"]["model"] == JUDGE_MODEL
        assert request["body"]["logprobs"] is True and request["body"]["top_logprobs"] == 5
        assert request["body"]["max_tokens"] == 1
        assert PROMPT_MARKER in "\n".join(m["content"] for m in request["body"]["messages"])
        assert request["authorization"] == f"Bearer {secret}"  # the key is used, in memory
    # numbers: percent, equal to the hand computation from the canned preferences
    want_wr, want_lc = hand_computed_rates(probs)
    assert result["win_rate"]["mean"] == pytest.approx(want_wr, abs=1e-6)
    assert result["win_rate"]["n"] == N_ANSWERS
    assert result["length_controlled_win_rate"]["mean"] == pytest.approx(want_lc, abs=0.05)
    assert abs(want_lc - want_wr) > 3  # the length correction is measured, not a copy
    assert [s["preference"] - 1 for s in result["samples"]] == pytest.approx(probs)
    assert result["judge_model"] == JUDGE_MODEL
    # the rerun is served from alpaca_eval's cache: no request, the same numbers
    assert rerun_requests == []
    assert rerun["win_rate"] == result["win_rate"]
    assert rerun["length_controlled_win_rate"] == result["length_controlled_win_rate"]
    # the key is in no file the run wrote (all of tmp_path) and in no log record
    written = _files_under(tmp_path)
    assert any(p.name == "annotations.json" for p in written)
    _assert_secret_absent(secret, written, json.dumps(result), caplog.text)


def test_loopback_judge_needs_no_server_key_or_network(tmp_path, monkeypatch):
    """evaluation.gpt4_judge.loopback: evaluate_gpt4 starts the loopback stub itself, with
    no key in the environment, on the real-model lane's fixtures (the alpaca_eval
    references and the df_gamed.csv-schema file of rule make_real_schema_fixtures); the
    numbers follow the stub's documented length rule, the cache serves the rerun, and
    the result says it was not judged by GPT-4."""
    from alignment_tax import loopback_judge, real_schema_fixtures

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    files = real_schema_fixtures.write_fixtures(tmp_path / "fixtures", seed=7, n_items=8)
    records = pairrm.alpaca_eval_records(
        pairrm.fetch_alpaca_eval({"local_files": str(files["alpaca_eval"])}), 6)
    answers = [{**r, "output": "A short answer." if i % 2 else "A much longer answer " * 8}
               for i, r in enumerate(records)]
    glm_data = tmp_path / "glm.csv"
    alpaca_eval_judge.fetch_glm_data({}, glm_data, local_file=files["alpaca_eval_glm"])
    servers = []
    enter = loopback_judge.LoopbackJudge.__enter__

    def recording_enter(self):
        servers.append(self)
        return enter(self)

    monkeypatch.setattr(loopback_judge.LoopbackJudge, "__enter__", recording_enter)
    kwargs = dict(variant="rsf/theta", glm_data=glm_data, cache_root=tmp_path / "cache",
                  base_url="https://api.openai.com/v1", loopback=True)
    result = alpaca_eval_judge.evaluate_gpt4(answers, **kwargs)
    rerun = alpaca_eval_judge.evaluate_gpt4(answers, **kwargs)

    assert len(servers) == 2  # one server per call, each stopped with it
    first, second = (s.requests for s in servers)
    assert len(first) == len(answers) and second == []  # the rerun is served from the cache
    assert all(r["body"]["model"] == loopback_judge.LOOPBACK_MODEL for r in first)
    assert all(r["authorization"].startswith("Bearer loopback-") for r in first)
    assert result["skipped"] is False and result["loopback"] is True
    assert "NOT GPT-4" in result["judge"]
    assert result["judge_model"] == loopback_judge.LOOPBACK_MODEL
    # the length rule is symmetric, so the random order of the outputs does not matter
    want = [loopback_judge.length_verdict(a["output"], a["reference"]) for a in answers]
    assert [s["preference"] - 1 for s in result["samples"]] == pytest.approx(want)
    assert result["win_rate"]["mean"] == pytest.approx(100 * sum(want) / len(want))
    assert 0 < result["length_controlled_win_rate"]["mean"] < 100
    assert rerun["win_rate"]["mean"] == pytest.approx(result["win_rate"]["mean"])
    # cached apart from a real judge's verdicts; the dummy key is in no file
    cached = list((tmp_path / "cache").rglob("annotations.json"))
    assert cached and all("loopback" in p.relative_to(tmp_path / "cache").parts for p in cached)
    dummy_key = first[0]["authorization"].removeprefix("Bearer ")
    _assert_secret_absent(dummy_key, _files_under(tmp_path), json.dumps(result))


def test_loopback_server_rejects_other_prompts():
    import urllib.error
    import urllib.request

    from alignment_tax.loopback_judge import LoopbackJudge, length_verdict, prompt_outputs

    assert length_verdict("ab", "ab") == 0.5
    assert length_verdict("abcd", "a") == pytest.approx(1 - length_verdict("a", "abcd"))
    assert length_verdict("abcd", "a") > 0.5
    with pytest.raises(ValueError, match="not an AlpacaEval 2.0 pairwise prompt"):
        prompt_outputs("Which is better, A or B?")
    body = json.dumps({"model": "x", "messages": [{"role": "user", "content": "hi"}]})
    with LoopbackJudge() as server:
        request = urllib.request.Request(server.base_url + "/chat/completions",
                                         data=body.encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as error:
            urllib.request.urlopen(request, timeout=10)
    assert error.value.code == 400


def test_real_lane_judges_its_variants_on_fixtures_through_the_loopback():
    from alignment_tax.config_checks import ConfigError
    from alignment_tax.real_schema_fixtures import FIXTURE_FILES
    from test_config_schema import validated

    real_file = REPO / "config" / "real_cpu.yaml"
    require_gguf_of(real_file)  # the config check needs the lane's GGUF file
    real = yaml.safe_load(real_file.read_text())
    judge = validated(real)["evaluation"]["gpt4_judge"]
    assert real["stages"]["gpt4_judge"] is True and judge["loopback"] is True
    # the length control reads the fixture rule make_real_schema_fixtures writes
    assert judge["glm_data"] == f"results/real_cpu/data/fixtures/{FIXTURE_FILES['alpaca_eval_glm']}"
    assert eval_plan.judge_glm_data_inputs(real) == {"local": judge["glm_data"]}
    judged = [f for f in eval_plan.eval_files(real) if f.endswith("/gpt4.json")]
    assert sorted(judged) == sorted(f"results/real_cpu/eval/{v}/gpt4.json"
                                    for v in judge["variants"])
    real["evaluation"]["gpt4_judge"]["variants"] = ["rsf/theta", "rsf/no_such/alpha0.1"]
    with pytest.raises(ConfigError, match=r"gpt4_judge.variants.*no_such"):
        validated(real)


def test_skipped_without_key_makes_no_request(tmp_path, monkeypatch):
    monkeypatch.delenv("STUB_JUDGE_KEY", raising=False)
    answers, probs = canned_answers(tmp_path, 2)
    with StubJudge({str(i): p for i, p in enumerate(probs)}) as stub:
        out = alpaca_eval_judge.evaluate_gpt4(
            answers, variant="pair/theta", glm_data=tmp_path / "absent.csv",
            cache_root=tmp_path / "cache", base_url=stub.base_url, api_key_env="STUB_JUDGE_KEY")
    assert out["skipped"] is True and "STUB_JUDGE_KEY" in out["reason"]
    assert stub.requests == [] and not (tmp_path / "cache").exists()


def test_bad_judge_settings_fail_before_any_request(tmp_path, monkeypatch):
    monkeypatch.setenv("STUB_JUDGE_KEY", "sk-test-" + secrets.token_hex(8))
    answers, probs = canned_answers(tmp_path, 2)
    glm_data = tmp_path / "df_gamed.csv"
    write_glm_data(glm_data, n=2)
    bad_glm = tmp_path / "not_glm.csv"
    pd.DataFrame({"index": [0], "x": [1]}).to_csv(bad_glm, index=False)
    with StubJudge({str(i): p for i, p in enumerate(probs)}) as stub:
        common = dict(variant="pair/theta", cache_root=tmp_path / "cache",
                      base_url=stub.base_url, api_key_env="STUB_JUDGE_KEY")
        with pytest.raises(ValueError, match="evaluation.gpt4_judge.annotator"):
            alpaca_eval_judge.evaluate_gpt4(answers, glm_data=glm_data,
                                            annotator="no_such_annotator", **common)
        with pytest.raises(ValueError, match="df_gamed.csv"):
            alpaca_eval_judge.evaluate_gpt4(answers, glm_data=bad_glm, **common)
        with pytest.raises(ValueError, match="difficulties for 2 instructions"):
            three, _ = canned_answers(tmp_path, 3)
            alpaca_eval_judge.evaluate_gpt4(three, glm_data=glm_data, **common)
    assert stub.requests == []


def test_only_table1_variants_are_judged():
    zephyr = load_config("zephyr")
    judged = [f for f in eval_plan.eval_files(zephyr) if f.endswith("/gpt4.json")]
    # the paper judged Zephyr-7B-beta and Zephyr-7B-Gemma and their HMA at alpha 0.2 only
    assert sorted(judged) == sorted(
        f"results/zephyr/eval/{pair}/{model}/gpt4.json"
        for pair in ("zephyr-7b-beta", "zephyr-7b-gemma") for model in ("theta", "hma/K3/alpha0.2")
    )
    assert any(f.endswith("/ma/alpha0.2/pairrm.json") for f in eval_plan.eval_files(zephyr))


def test_table1_shows_win_rate_and_lc_win_rate(tmp_path):
    from alignment_tax.artifact_catalogue import artifacts, load_wide_tables
    from alignment_tax.figures import table1_frame
    from alignment_tax.io import write_json
    from alignment_tax.tables import BENCHMARK_CATEGORIES, long_table, wide_table
    from test_tables import _benchmark_json

    config = load_config("zephyr")
    pair = config["pairs"][0]["name"]
    judged = {f"{pair}/theta": ({"method": "plain", "alpha": 0.0}, 10.0, 12.5),
              f"{pair}/hma/K3/alpha0.2": ({"method": "hma", "alpha": 0.2, "K": 3}, 11.0, 13.5)}
    eval_root, recipes = tmp_path / "eval", {}
    for variant, (meta, wr, lc) in judged.items():
        for category in BENCHMARK_CATEGORIES:
            write_json(eval_root / variant / f"{category}.json", _benchmark_json(category, 0.5))
        write_json(eval_root / variant / "gpt4.json", {
            "group": "gpt4", "skipped": False,
            "win_rate": {"mean": wr, "stderr": 1.0, "n": 805},
            "length_controlled_win_rate": {"mean": lc, "stderr": 0.5, "n": 805}})
        recipes[variant] = {"id": variant, "meta": {"id": variant, "pair": pair, **meta}}
    long = long_table(sorted(eval_root.rglob("*.json")), eval_root=eval_root, recipes=recipes,
                      run="zephyr", model=None, public_pairs=[pair])
    paths = {}
    for category in BENCHMARK_CATEGORIES:
        paths[category] = str(tmp_path / f"wide_{category}.csv")
        wide_table(long, category).to_csv(paths[category], index=False)
    frame = table1_frame(artifacts(config)["table1"], load_wide_tables(paths))
    ours = frame[(frame["source"] == "this run") & (frame["pair"] == pair)].set_index("model")
    assert ours.loc["theta", "win_rate"] == pytest.approx(10.0)
    assert ours.loc["theta", "lc_win_rate"] == pytest.approx(12.5)
    assert ours.loc["HMA (alpha 0.2)", "win_rate"] == pytest.approx(11.0)
    assert ours.loc["HMA (alpha 0.2)", "lc_win_rate"] == pytest.approx(13.5)


@pytest.mark.slow
def test_workflow_rule_against_the_stub_server(tmp_path, monkeypatch):
    """Rules fetch_alpaca_eval_glm_data and evaluate_gpt4, pointed at the stub by
    evaluation.gpt4_judge.base_url (the path a real-model run takes with its own server),
    on answers written in place of generate_alpaca_answers' (the toy configuration with
    the judge on: the rules are the same in every configuration). The run's folder is
    tmp_path (-d), so every file it writes, Snakemake's own included, is checked."""
    secret = "sk-test-" + secrets.token_hex(16)
    monkeypatch.setenv("STUB_JUDGE_KEY", secret)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # no download may happen, not even by accident
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    answers, probs = canned_answers(inputs)
    glm_data = inputs / "df_gamed.csv"
    write_glm_data(glm_data)
    config = load_config("config")
    config["stages"]["gpt4_judge"] = True
    run, variant = config["run_name"], "rsf/theta"
    workdir = tmp_path / "run"
    target = Path("results") / run / "eval" / variant / "gpt4.json"
    answers_path = workdir / target.parent / "alpaca_answers.jsonl"
    answers_path.parent.mkdir(parents=True)
    answers_path.write_text("".join(json.dumps(a) + "\n" for a in answers))
    args = ["-s", str(REPO / "Snakefile"), "-d", str(workdir), str(target), "--cores", "1",
            "--allowed-rules", "evaluate_gpt4", "fetch_alpaca_eval_glm_data",
            "--configfile", str(inputs / "config.yaml")]
    with StubJudge({str(i): p for i, p in enumerate(probs)}) as stub:
        config["evaluation"]["gpt4_judge"].update(
            base_url=stub.base_url, model=JUDGE_MODEL, api_key_env="STUB_JUDGE_KEY",
            glm_data=str(glm_data))
        (inputs / "config.yaml").write_text(yaml.safe_dump(config))
        first = run_snakemake(*args)
        assert first.returncode == 0, first.stderr[-3000:]
        n_first = len(stub.requests)
        result = json.loads((workdir / target).read_text())
        (workdir / target).unlink()  # the rule runs again; the verdicts come from the cache
        second = run_snakemake(*args)
        assert second.returncode == 0, second.stderr[-3000:]
        n_second = len(stub.requests) - n_first
        # inputs, params and code unchanged: the rule does not run again
        unchanged = run_snakemake(*args, "--dry-run")
        assert unchanged.returncode == 0 and "Nothing to be done" in unchanged.stdout
    assert n_first == N_ANSWERS and n_second == 0
    assert {r["body"]["model"] for r in stub.requests} == {JUDGE_MODEL}
    assert all(PROMPT_MARKER in r["body"]["messages"][-1]["content"] for r in stub.requests)
    want_wr, want_lc = hand_computed_rates(probs)
    rerun = json.loads((workdir / target).read_text())
    for out in (result, rerun):
        assert out["skipped"] is False and out["variant"] == variant
        assert out["win_rate"]["mean"] == pytest.approx(want_wr, abs=1e-6)
        assert out["length_controlled_win_rate"]["mean"] == pytest.approx(want_lc, abs=0.05)
    log_text = (workdir / "logs" / run / "evaluate_gpt4" / f"{variant}.log").read_text()
    assert f"win rate {want_wr:.2f}%" in log_text
    # every file the runs wrote: results, cache, logs, Snakemake's metadata, logs, scripts
    written = _files_under(workdir)
    assert any(p.name == "annotations.json" for p in written)
    assert any(".snakemake" in p.parts for p in written)
    _assert_secret_absent(secret, written, first.stdout + first.stderr,
                          second.stdout + second.stderr)


@pytest.mark.slow
def test_workflow_rule_with_the_loopback_judge(tmp_path, monkeypatch):
    """Rule evaluate_gpt4 with evaluation.gpt4_judge.loopback: no server started by hand,
    no key set; the job's result is the stub's length rule, marked as such, and turning
    loopback off makes the job out of date (the value reaches the rule as a param)."""
    from alignment_tax.loopback_judge import JUDGED_BY, length_verdict

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    answers, _ = canned_answers(inputs, 4)
    glm_data = inputs / "df_gamed.csv"
    write_glm_data(glm_data, 4)
    config = load_config("config")
    config["stages"]["gpt4_judge"] = True
    config["evaluation"]["gpt4_judge"].update(loopback=True, glm_data=str(glm_data))
    run, variant = config["run_name"], "rsf/theta"
    workdir = tmp_path / "run"
    target = Path("results") / run / "eval" / variant / "gpt4.json"
    answers_path = workdir / target.parent / "alpaca_answers.jsonl"
    answers_path.parent.mkdir(parents=True)
    answers_path.write_text("".join(json.dumps(a) + "\n" for a in answers))
    config_file = inputs / "config.yaml"
    config_file.write_text(yaml.safe_dump(config))
    args = ["-s", str(REPO / "Snakefile"), "-d", str(workdir), str(target), "--cores", "1",
            "--allowed-rules", "evaluate_gpt4", "fetch_alpaca_eval_glm_data",
            "--configfile", str(config_file)]
    done = run_snakemake(*args)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads((workdir / target).read_text())
    assert out["skipped"] is False and out["loopback"] is True and out["judge"] == JUDGED_BY
    want = [length_verdict(a["output"], a["reference"]) for a in answers]
    assert out["win_rate"]["mean"] == pytest.approx(100 * sum(want) / len(want))
    log_text = (workdir / "logs" / run / "evaluate_gpt4" / f"{variant}.log").read_text()
    assert "NOT GPT-4" in log_text
    unchanged = run_snakemake(*args, "--dry-run")
    assert unchanged.returncode == 0 and "Nothing to be done" in unchanged.stdout
    config["evaluation"]["gpt4_judge"]["loopback"] = False
    config_file.write_text(yaml.safe_dump(config))
    switched = run_snakemake(*args, "--dry-run")
    assert switched.returncode == 0 and "evaluate_gpt4" in switched.stdout, switched.stdout


def test_unusable_verdicts_fail_the_job_and_are_asked_again(tmp_path, monkeypatch):
    monkeypatch.setenv("STUB_JUDGE_KEY", "sk-test-" + secrets.token_hex(8))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    answers, probs = canned_answers(tmp_path, 5)
    glm_data = tmp_path / "df_gamed.csv"
    write_glm_data(glm_data, n=5)
    with StubJudge({str(i): p for i, p in enumerate(probs)}) as stub:
        kwargs = dict(variant="pair/theta", glm_data=glm_data, cache_root=tmp_path / "cache",
                      base_url=stub.base_url, api_key_env="STUB_JUDGE_KEY")
        stub.verdict.unusable = {"3"}
        with pytest.raises(RuntimeError, match="1 of 5 AlpacaEval verdicts are missing"):
            alpaca_eval_judge.evaluate_gpt4(answers, **kwargs)
        assert len(stub.requests) == 5
        stub.verdict.unusable = set()
        result = alpaca_eval_judge.evaluate_gpt4(answers, **kwargs)
        # only the failed verdict is asked again; the four cached ones are reused
        assert len(stub.requests) == 6
        assert "ANSWER-3 " in stub.requests[-1]["body"]["messages"][-1]["content"]
    assert result["win_rate"]["mean"] == pytest.approx(100 * sum(probs) / len(probs))


@pytest.mark.parametrize(("key", "value", "needle"), [
    ("base_url", "api.openai.com/v1", r"(?s)does not match.*\['base_url'\]"),
    ("max_concurrency", 0, r"(?s)less than the minimum.*\['max_concurrency'\]"),
    ("annotator", "../elsewhere", r"(?s)does not match.*\['annotator'\]"),
])
def test_bad_judge_config_names_the_key(key, value, needle):
    from test_config_schema import validated

    config = load_config("zephyr")
    config["evaluation"]["gpt4_judge"][key] = value
    with pytest.raises(Exception, match=needle):
        validated(config)


def test_judge_defaults_are_alpaca_eval_2s():
    from test_config_schema import validated

    config = load_config("zephyr")
    config["evaluation"]["gpt4_judge"] = {}
    judge = validated(config)["evaluation"]["gpt4_judge"]
    assert judge == {"annotator": "weighted_alpaca_eval_gpt4_turbo",
                     "model": "gpt-4-1106-preview", "base_url": "https://api.openai.com/v1",
                     "api_key_env": "OPENAI_API_KEY", "max_concurrency": 5, "glm_data": None,
                     "loopback": False, "variants": None}
    # the default model is the one the package's annotator config names
    from alpaca_eval import constants

    shipped = Path(constants.EVALUATORS_CONFIG_DIR) / judge["annotator"] / "configs.yaml"
    shipped = yaml.safe_load(shipped.read_text())[judge["annotator"]]
    assert shipped["completions_kwargs"]["model_name"] == judge["model"]
    ours = alpaca_eval_judge.annotator_config(judge["annotator"], "other-model")
    assert ours[judge["annotator"]]["completions_kwargs"] == {
        **shipped["completions_kwargs"], "model_name": "other-model"}


def test_local_references_need_local_glm_data(tmp_path):
    from alignment_tax.config_checks import ConfigError
    from test_config_schema import validated

    config = load_config("zephyr")
    config["datasets"]["alpaca_eval"] = {"local_files": str(tmp_path / "alpaca_eval.json")}
    with pytest.raises(ConfigError, match="evaluation.gpt4_judge.glm_data"):
        validated(config)
    config["evaluation"]["gpt4_judge"]["glm_data"] = str(tmp_path / "df_gamed.csv")
    validated(config)
