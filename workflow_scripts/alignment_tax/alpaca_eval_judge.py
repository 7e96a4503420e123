"""AlpacaEval 2.0 win rate and length-controlled win rate (table 1), judged by GPT-4.

The paper's table 1 reports "Win-Rate against GPT4" on AlpacaEval 2.0. AlpacaEval 2.0 is
the ``alpaca_eval`` package's ``weighted_alpaca_eval_gpt4_turbo`` annotator (GPT-4 Turbo,
gpt-4-1106-preview, sees an instruction and two outputs labelled "m" and "M" and names
the better one; the preference is read from the log-probabilities of the two labels, so
it is a number in [0, 1], not a vote) against the AlpacaEval 2.0 reference outputs
(tatsu-lab/alpaca_eval, alpaca_eval_gpt4_baseline, fetched by rule prepare_alpaca_eval).
The package does the prompting, the random order of the two outputs, the parsing and the
metrics; this module only wires it to the workflow:

- the judge's endpoint (``evaluation.gpt4_judge.base_url``, any OpenAI-compatible server)
  and model (``evaluation.gpt4_judge.model``) come from the config; the key is read from
  the environment variable the config names (``api_key_env``) and handed to the client in
  memory: never logged, printed or written;
- every verdict is cached by alpaca_eval's own annotation cache in
  ``results/<run>/cache/alpaca_eval/<annotator>/<model>/<variant>/annotations.json``
  (one file per variant, so parallel jobs never write the same file): a rerun, or a run
  that resumes after a failure, asks the API only for what is not cached;
- the length-controlled win rate is alpaca_eval's ``get_length_controlled_winrate``
  (GLM ``length_controlled_v1``), which needs AlpacaEval's per-instruction difficulties
  and the annotations of its two length-gamed baselines (``df_gamed.csv`` in the same hub
  data set); rule fetch_alpaca_eval_glm_data fetches that file, so the judge job itself
  downloads nothing (``_local_glm_data``).

With ``evaluation.gpt4_judge.loopback`` the judge is ``alignment_tax.loopback_judge``'s
server, started on 127.0.0.1 for the job: the same code path with no API, key or network,
and verdicts that measure nothing (its result says so in ``judge``).

Both rates are in percent (the paper's scale): 100 * the mean probability that the judge
prefers the model's answer over the reference.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import yaml

from alignment_tax.io import atomic_path, write_text

logger = logging.getLogger(__name__)

ANNOTATOR = "weighted_alpaca_eval_gpt4_turbo"
DEFAULT_MODEL = "gpt-4-1106-preview"  # the model of AlpacaEval 2.0's annotator
DEFAULT_BASE_URL = "https://api.openai.com/v1"
GLM_DATA_FILE = "df_gamed.csv"  # the LC GLM's data in tatsu-lab/alpaca_eval
GLM_NAME = "length_controlled_v1"  # AlpacaEval 2.0's length-controlled win rate


def api_key_from_env(env_name: str) -> str | None:
    """The key, or None when the variable is unset or empty (never logged)."""
    value = os.environ.get(env_name, "").strip()
    return value or None


def skipped_result(env_name: str) -> dict[str, Any]:
    return {
        "group": "gpt4",
        "skipped": True,
        "reason": f"environment variable {env_name} is not set: GPT-4 judge skipped",
    }


def _slug(text: str) -> str:
    """A path component for a model name such as "org/model:tag"."""
    return re.sub(r"[^A-Za-z0-9_.\-]", "_", text)


def cache_dir(root: str | os.PathLike, *, annotator: str, model: str, variant: str) -> Path:
    """Where the verdicts of one judge (annotator and model) on one variant are cached."""
    return Path(root) / _slug(annotator) / _slug(model) / variant


def fetch_glm_data(spec: dict, out_path: str | os.PathLike,
                   local_file: str | os.PathLike | None = None) -> str:
    """Write AlpacaEval's df_gamed.csv to ``out_path``: from ``local_file``
    (evaluation.gpt4_judge.glm_data) or from the hub data set of ``spec``
    (datasets.alpaca_eval, tatsu-lab/alpaca_eval). Returns where it came from."""
    import shutil

    if local_file:
        source = str(local_file)
        _check_glm_data(source, 0)
    elif spec.get("hub_id"):
        from huggingface_hub import hf_hub_download

        source = hf_hub_download(spec["hub_id"], GLM_DATA_FILE, repo_type="dataset",
                                 revision=spec.get("revision"))
    else:
        raise ValueError(
            "evaluation.gpt4_judge.glm_data: needed (a local df_gamed.csv) when "
            "datasets.alpaca_eval has no hub_id to fetch it from"
        )
    with atomic_path(out_path) as tmp:
        shutil.copyfile(source, tmp)
    return source


def annotator_config(annotator: str, model: str) -> dict:
    """The package's annotator config with the judge model set to ``model``.

    The prompt template is made absolute, so the config works from any folder.
    """
    from alpaca_eval import constants

    path = Path(constants.EVALUATORS_CONFIG_DIR) / annotator / "configs.yaml"
    if not path.is_file():
        raise ValueError(
            f"evaluation.gpt4_judge.annotator: alpaca_eval has no annotator '{annotator}' "
            f"({path} not found)"
        )
    configs = yaml.safe_load(path.read_text())
    if set(configs) != {annotator}:
        raise ValueError(f"evaluation.gpt4_judge.annotator: '{annotator}' is a pool of "
                         f"annotators {sorted(configs)}; one annotator is expected")
    config = dict(configs[annotator])
    if config.get("fn_completions") != "openai_completions":
        raise ValueError(f"evaluation.gpt4_judge.annotator: '{annotator}' does not call an "
                         "OpenAI-compatible API (fn_completions is "
                         f"{config.get('fn_completions')!r})")
    template = Path(constants.EVALUATORS_CONFIG_DIR) / config["prompt_template"]
    config["prompt_template"] = str(template)
    config["completions_kwargs"] = {**config.get("completions_kwargs", {}), "model_name": model}
    return {annotator: config}


def _annotator_class():
    from alpaca_eval.annotators import PairwiseAnnotator

    class AtomicCacheAnnotator(PairwiseAnnotator):
        """PairwiseAnnotator whose cache file is replaced atomically (the package writes
        it in place after every chunk, so a crash mid-write would corrupt it) and whose
        cached failures are asked again (the package caches a failed verdict as -1 and
        would never retry it; its is_store_missing_annotations=False fails on an empty
        cache in 0.6.6)."""

        def load_(self, path=None):
            super().load_(path)
            if self.df_annotations is not None:
                failed = self.df_annotations[self.annotation_key] == self.TMP_MISSING_ANNOTATION
                self.df_annotations = self.df_annotations[~failed]

        def save(self, path=None):
            path = path or self.caching_path
            if path is None:
                return
            self._refresh_annotations_()  # what the package's save does before writing
            with atomic_path(path) as tmp:
                self.df_annotations.to_json(tmp, orient="records", indent=2)

    return AtomicCacheAnnotator


def annotate(
    answers: Sequence[dict],
    *,
    generator: str,
    annotator: str,
    model: str,
    base_url: str,
    api_key: str,
    cache_root: str | os.PathLike,
    max_concurrency: int = 5,
) -> list[dict]:
    """alpaca_eval's annotations of ``answers`` (rows: instruction, output, reference,
    reference_generator) against their references, in the order of ``answers``.

    Cached verdicts are reused; only the missing ones reach the API.
    """
    config = annotator_config(annotator, model)
    # absolute: alpaca_eval reads a relative config path as relative to its own folder
    folder = cache_dir(cache_root, annotator=annotator, model=model, variant=generator).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    config_path = folder / "configs.yaml"
    write_text(config_path, yaml.safe_dump(config, sort_keys=True))
    references = [{"instruction": a["instruction"], "output": a["reference"],
                   "generator": a.get("reference_generator", "reference")} for a in answers]
    outputs = [{"instruction": a["instruction"], "output": a["output"], "generator": generator}
               for a in answers]
    judge = _annotator_class()(annotators_config=str(config_path),
                               caching_path=str(folder / "annotations.json"))
    # the key travels in memory to the OpenAI client; alpaca_eval leaves keys whose name
    # holds "api_key" out of its log. client_config_path: os.devnull is not a file, so
    # the package builds the client from these arguments rather than from a client config
    # file or OPENAI_* variables it may find
    return judge.annotate_head2head(
        outputs_1=references,
        outputs_2=outputs,
        is_ordered=True,
        openai_api_keys=[api_key],
        openai_api_base=base_url,
        client_config_path=os.devnull,
        num_procs=max_concurrency,
    )


@contextlib.contextmanager
def _local_glm_data(glm_data: str | os.PathLike) -> Iterator[None]:
    """Make alpaca_eval's GLM read df_gamed.csv from ``glm_data`` instead of the hub.

    ``alpaca_eval.metrics.glm_winrate`` downloads the file with ``hf_hub_download`` each
    time it fits; the package has no option for a local file, so its module-level name is
    pointed, for the duration of the call, at a resolver that serves only that file.
    """
    from alpaca_eval.metrics import glm_winrate

    def local_download(repo_id: str, filename: str, **kwargs) -> str:
        if filename != GLM_DATA_FILE:
            raise RuntimeError(f"alpaca_eval asked for {repo_id}/{filename}; only "
                               f"{GLM_DATA_FILE} is provided locally (no downloads here)")
        return str(glm_data)

    original = glm_winrate.hf_hub_download
    glm_winrate.hf_hub_download = local_download
    try:
        yield
    finally:
        glm_winrate.hf_hub_download = original


def _check_glm_data(glm_data: str | os.PathLike, n_answers: int) -> None:
    import pandas as pd

    frame = pd.read_csv(glm_data)
    needed = {"index", "instruction_difficulty", "preference", "std_delta_len",
              "not_gamed_baseline", "model"}
    missing = needed - set(frame.columns)
    if missing:
        raise ValueError(f"{glm_data}: not AlpacaEval's {GLM_DATA_FILE} (no columns "
                         f"{sorted(missing)})")
    n_instructions = frame["index"].nunique()
    if n_answers > n_instructions:
        raise ValueError(f"{glm_data} has difficulties for {n_instructions} instructions, "
                         f"but {n_answers} answers were judged")


def win_rates(annotations: Sequence[dict], glm_data: str | os.PathLike) -> dict[str, Any]:
    """Win rate and length-controlled win rate (percent) from alpaca_eval's annotations.

    The annotations must be AlpacaEval's instructions in AlpacaEval's order (the GLM
    looks up each instruction's difficulty by its position).
    """
    import pandas as pd
    from alpaca_eval.metrics import get_length_controlled_winrate

    frame = pd.DataFrame(list(annotations))
    with _local_glm_data(glm_data):
        # save_weights_dir=None: the package would otherwise write the fitted weights
        # into its own installation folder
        metrics = get_length_controlled_winrate(frame, glm_name=GLM_NAME,
                                                save_weights_dir=None)
    n = int(metrics["n_total"])
    return {
        "win_rate": {"mean": float(metrics["win_rate"]),
                     "stderr": float(metrics["standard_error"]), "n": n},
        "length_controlled_win_rate": {"mean": float(metrics["length_controlled_winrate"]),
                                       "stderr": float(metrics["lc_standard_error"]), "n": n},
        "discrete_win_rate": float(metrics["discrete_win_rate"]),
        "n_wins": int(metrics["n_wins"]),
        "n_wins_reference": int(metrics["n_wins_base"]),
        "n_draws": int(metrics["n_draws"]),
        "glm_preference": [float(p) for p in frame["glm_preference"]],
    }


def _is_number(value) -> bool:
    import math

    return isinstance(value, int | float) and not math.isnan(value)


def evaluate_gpt4(
    answers: Sequence[dict],
    *,
    variant: str,
    glm_data: str | os.PathLike,
    cache_root: str | os.PathLike,
    annotator: str = ANNOTATOR,
    model: str = DEFAULT_MODEL,
    base_url: str = DEFAULT_BASE_URL,
    api_key_env: str = "OPENAI_API_KEY",
    max_concurrency: int = 5,
    loopback: bool = False,
) -> dict[str, Any]:
    """AlpacaEval 2.0 judgement of one variant's answers, or a result saying it was skipped
    when the key's variable is unset.

    ``loopback`` (evaluation.gpt4_judge.loopback): the judge is
    ``alignment_tax.loopback_judge.LoopbackJudge`` started on 127.0.0.1 for this call
    (its length rule, model ``LOOPBACK_MODEL``, a random key held in memory; ``base_url``,
    ``model`` and ``api_key_env`` are not used), its verdicts cached apart from any real
    judge's, and the result marked ``"judge": JUDGED_BY``.
    """
    if not answers:
        raise ValueError("no AlpacaEval answers to judge")
    if loopback:
        import secrets

        from alignment_tax.loopback_judge import JUDGED_BY, LOOPBACK_MODEL, LoopbackJudge

        _check_glm_data(glm_data, len(answers))  # before the server starts
        with LoopbackJudge() as server:
            result = _judge(answers, variant=variant, glm_data=glm_data,
                            cache_root=Path(cache_root) / "loopback", annotator=annotator,
                            model=LOOPBACK_MODEL, base_url=server.base_url,
                            api_key="loopback-" + secrets.token_hex(8),
                            max_concurrency=max_concurrency)
        return {**result, "loopback": True, "judge": JUDGED_BY}
    api_key = api_key_from_env(api_key_env)
    if api_key is None:
        logger.warning("environment variable %s is not set: GPT-4 judge skipped", api_key_env)
        return skipped_result(api_key_env)
    _check_glm_data(glm_data, len(answers))  # before any API call
    return {**_judge(answers, variant=variant, glm_data=glm_data, cache_root=cache_root,
                     annotator=annotator, model=model, base_url=base_url, api_key=api_key,
                     max_concurrency=max_concurrency),
            "loopback": False, "judge": model}


def _judge(answers: Sequence[dict], *, variant: str, glm_data: str | os.PathLike,
           cache_root: str | os.PathLike, annotator: str, model: str, base_url: str,
           api_key: str, max_concurrency: int) -> dict[str, Any]:
    """evaluate_gpt4's judgement once the judge's endpoint and key are known."""
    start = time.perf_counter()
    annotations = annotate(answers, generator=variant, annotator=annotator, model=model,
                           base_url=base_url, api_key=api_key, cache_root=cache_root,
                           max_concurrency=max_concurrency)
    if [a["instruction"] for a in annotations] != [a["instruction"] for a in answers]:
        raise RuntimeError("alpaca_eval returned the annotations in another order than the "
                           "answers; the length-controlled GLM needs AlpacaEval's order")
    missing = sum(not _is_number(a.get("preference")) for a in annotations)
    if missing:
        raise RuntimeError(f"{missing} of {len(annotations)} AlpacaEval verdicts are missing "
                           f"(judge {model} at {base_url}); rerun to retry them")
    rates = win_rates(annotations, glm_data)
    glm_preference = rates.pop("glm_preference")
    return {
        "group": "gpt4",
        "skipped": False,
        "annotator": annotator,
        "judge_model": model,
        "reference": "AlpacaEval 2.0 reference outputs "
                     f"({sorted({a.get('reference_generator', '') for a in answers})})",
        **rates,
        "seconds": time.perf_counter() - start,
        "samples": [
            {"instruction": a["instruction"], "preference": float(a["preference"]),
             "glm_preference": g}
            for a, g in zip(annotations, glm_preference, strict=True)
        ],
    }
