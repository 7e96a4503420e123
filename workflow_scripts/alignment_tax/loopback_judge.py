"""A loopback OpenAI-compatible judge for alpaca_eval's AlpacaEval 2.0 annotator.

It serves ``POST /v1/chat/completions`` on 127.0.0.1 (a free port, in a thread of the
calling process) and answers as ``weighted_alpaca_eval_gpt4_turbo`` expects of GPT-4
Turbo: one token and the top log-probabilities of the two labels, "m" (the first output
of the prompt) and "M" (the second). The probability given to "m" comes from a
``verdict(output_1, output_2)`` function; ``None`` from it is an unusable answer (no
"m"/"M" log-probabilities), which alpaca_eval records as a missing verdict.

What it is for: running the judge's real code path (alpaca_eval's prompting, random
order of the outputs, log-probability parsing, annotation cache, and the length-
controlled GLM) with no API, no key and no network: the real-model lane
(``evaluation.gpt4_judge.loopback``) and the tests. Its verdicts measure nothing about
quality: ``length_verdict`` prefers the longer output (a documented, deterministic rule),
so the result JSON says it was judged by this stub and never by GPT-4.

Written by hand: no maintained library serves a logprob-answering OpenAI-compatible
endpoint in-process (the stdlib's http.server is enough for one route).
"""

from __future__ import annotations

import json
import math
import re
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# the model name the loopback run sends, caches under and writes into its result
LOOPBACK_MODEL = "loopback-length-stub"
JUDGED_BY = (
    "loopback stub judge (alignment_tax.loopback_judge, length_verdict: prefers "
    "the longer output); NOT GPT-4, the numbers measure nothing about quality"
)

# alpaca_eval_clf_gpt4_turbo/alpaca_eval_clf.txt (alpaca_eval 0.6.6): the two outputs sit
# in triple-quoted "output" fields after the identifiers "m" and "M"
_OUTPUTS = re.compile(
    r'"model_identifier": "m",\s*"output": """(?P<first>.*)"""\s*\},\s*\{\s*'
    r'"model_identifier": "M",\s*"output": """(?P<second>.*)"""\s*\}\s*\}',
    re.DOTALL,
)

Verdict = Callable[[str, str], "float | None"]


def prompt_outputs(prompt: str) -> tuple[str, str]:
    """The two outputs ("m" first, "M" second) of an AlpacaEval 2.0 annotator prompt."""
    match = _OUTPUTS.search(prompt)
    if match is None:
        raise ValueError("not an AlpacaEval 2.0 pairwise prompt (no outputs 'm' and 'M')")
    return match["first"], match["second"]


def length_verdict(output_1: str, output_2: str) -> float:
    """P(the judge prefers output_1) = logistic(4 * (len1 - len2) / (len1 + len2)).

    Deterministic and symmetric (swapping the outputs gives 1 - p; equal lengths 0.5),
    strictly inside (0.018, 0.982), and biased to length on purpose, so that AlpacaEval's
    length-controlled win rate has a length effect to correct.
    """
    n1, n2 = len(output_1), len(output_2)
    return 1 / (1 + math.exp(-4 * (n1 - n2) / max(n1 + n2, 1)))


def completion(model: str, p_first: float | None) -> dict:
    """A chat.completion of one token with the top log-probabilities of "m" and "M"."""
    if p_first is None:
        top = [{"token": "The", "bytes": [84, 104, 101], "logprob": -0.01}]
    else:
        top = [
            {"token": "m", "bytes": [109], "logprob": math.log(p_first)},
            {"token": "M", "bytes": [77], "logprob": math.log(1 - p_first)},
        ]
        top.sort(key=lambda t: -t["logprob"])
    return {
        "id": "chatcmpl-loopback",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [
            {
                "index": 0,
                "finish_reason": "length",
                "message": {"role": "assistant", "content": top[0]["token"]},
                "logprobs": {"content": [{**top[0], "top_logprobs": top}]},
            }
        ],
        "usage": {"prompt_tokens": 0, "completion_tokens": 1, "total_tokens": 1},
    }


class LoopbackJudge:
    """OpenAI-compatible /v1/chat/completions on 127.0.0.1 in a daemon thread; a context
    manager (started on enter, shut down on exit). ``requests`` records every request's
    path, body and Authorization header (kept in memory, for the tests)."""

    def __init__(self, verdict: Verdict = length_verdict):
        self.verdict = verdict
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        judge = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with judge.lock:
                    judge.requests.append(
                        {
                            "path": self.path,
                            "body": body,
                            "authorization": self.headers.get("Authorization"),
                        }
                    )
                if self.path.rstrip("/") != "/v1/chat/completions":
                    self.send_error(404)
                    return
                try:
                    reply = judge.reply(body)
                except ValueError as err:  # not the annotator's prompt: a client error
                    self.send_error(400, str(err))
                    return
                data = json.dumps(reply).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):  # the request line would go to stderr
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)  # port 0: a free one
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def reply(self, body: dict) -> dict:
        prompt = "\n".join(m["content"] for m in body["messages"])
        return completion(body["model"], self.verdict(*prompt_outputs(prompt)))

    def __enter__(self) -> LoopbackJudge:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)
