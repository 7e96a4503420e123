"""GPT-4-judged AlpacaEval win rate (Zephyr configuration), skipped without an API key.

The judge sees an instruction and two outputs, labelled "m" and "M", and names the better
one; every pair is judged in both orders so the judge's position bias cancels, and a split
verdict counts as half a win. The prompt follows AlpacaEval's pairwise ranking annotator in
spirit (it is not the byte-identical AlpacaEval prompt; results are comparable between our
variants, not to the AlpacaEval leaderboard).

The key is read from the environment variable named in ``evaluation.gpt4_judge.api_key_env``
and passed straight to the client: it is never logged, printed or written. The ``openai``
package is used when installed; otherwise a plain HTTPS POST to ``/chat/completions``.
"""

from __future__ import annotations

import json
import logging
import os
import time
import urllib.request
from collections.abc import Callable, Sequence
from typing import Any

from alignment_tax.metrics import mean_stderr

logger = logging.getLogger(__name__)

SYSTEM = "You are a helpful assistant that compares the quality of answers to an instruction."
TEMPLATE = """Which of the two outputs below follows the instruction better? Judge helpfulness,
correctness and detail; ignore the order in which the outputs are shown.

## Instruction
{instruction}

## Output (m)
{output_m}

## Output (M)
{output_M}

Reply with exactly one character: m or M."""

DEFAULT_BASE_URL = "https://api.openai.com/v1"


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


def make_client(api_key: str, model: str, *, base_url: str | None = None, timeout: float = 60):
    """A function prompt -> reply text that calls an OpenAI-compatible chat endpoint."""
    base_url = (base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
    messages = lambda prompt: [  # noqa: E731
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": prompt},
    ]
    try:
        import openai
    except ImportError:
        openai = None
    if openai is not None:
        client = openai.OpenAI(api_key=api_key, base_url=base_url, timeout=timeout)

        def ask(prompt: str) -> str:
            reply = client.chat.completions.create(
                model=model, messages=messages(prompt), temperature=0, max_tokens=2
            )
            return reply.choices[0].message.content or ""

        return ask

    def ask(prompt: str) -> str:
        body = json.dumps({
            "model": model,
            "messages": messages(prompt),
            "temperature": 0,
            "max_tokens": 2,
        }).encode()
        request = urllib.request.Request(
            f"{base_url}/chat/completions",
            data=body,
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {api_key}"},
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return json.load(response)["choices"][0]["message"]["content"] or ""

    return ask


def parse_verdict(reply: str) -> str | None:
    """'m', 'M' or None for an unusable reply."""
    reply = reply.strip().strip(".'\"`() ")
    return reply if reply in ("m", "M") else None


def judge(
    answers: Sequence[dict],
    ask: Callable[[str], str],
    *,
    retries: int = 3,
    pause_s: float = 2.0,
) -> dict[str, Any]:
    """Win rate of ``answers`` (rows: instruction, output, reference) judged in both orders."""
    samples, wins = [], []
    start = time.perf_counter()
    for row in answers:
        verdicts = []
        for model_label in ("m", "M"):
            out_m, out_M = (
                (row["output"], row["reference"]) if model_label == "m" else
                (row["reference"], row["output"])
            )
            prompt = TEMPLATE.format(instruction=row["instruction"], output_m=out_m, output_M=out_M)
            verdict = None
            for attempt in range(retries):
                try:
                    verdict = parse_verdict(ask(prompt))
                    break
                except Exception as err:  # network / rate limit: retry, never log the key
                    logger.warning("judge call failed (%s), attempt %d", type(err).__name__,
                                   attempt + 1)
                    time.sleep(pause_s * (attempt + 1))
            verdicts.append(None if verdict is None else float(verdict == model_label))
        valid = [v for v in verdicts if v is not None]
        win = sum(valid) / len(valid) if valid else None
        if win is not None:
            wins.append(win)
        samples.append({"instruction": row["instruction"], "model_first": verdicts[0],
                        "model_second": verdicts[1], "win": win})
    mean, stderr, n = mean_stderr(wins)
    return {
        "group": "gpt4",
        "skipped": False,
        "win_rate": {"both_orders": {"mean": mean, "stderr": stderr, "n": n}},
        "n_unparsed": len(answers) - n,
        "seconds": time.perf_counter() - start,
        "samples": samples,
    }


def evaluate_gpt4(answers: Sequence[dict], *, model: str, api_key_env: str) -> dict[str, Any]:
    """Judge with GPT-4 when the key is set, else a result that says it was skipped."""
    api_key = api_key_from_env(api_key_env)
    if api_key is None:
        logger.warning("environment variable %s is not set: GPT-4 judge skipped", api_key_env)
        return skipped_result(api_key_env)
    result = judge(answers, make_client(api_key, model))
    result["judge_model"] = model
    return result
