"""SQuAD v2 scored per item with alignment_tax.metrics (no hub download at scoring time).

The official SQuAD v2 script with its default no-answer threshold (1.0) never abstains on
a probability, so its F1 equals the mean over questions of the token F1 of the generated
answer against the gold answers (the empty answer for unanswerable questions). That mean is
computed here item by item. Scores are in 0..1 (evaluate's squad_v2 reports 0..100).
"""

from __future__ import annotations

import sys
from pathlib import Path

from lm_eval.api.metrics import mean
from lm_eval.api.task import ConfigurableTask
from lm_eval.tasks.squadv2.task import SQuAD2

try:
    from alignment_tax.metrics import exact_match, token_f1
except ImportError:  # loaded by file path from a process without workflow_scripts on sys.path
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
    from alignment_tax.metrics import exact_match, token_f1


# The YAML keys a copy of this task on local files may set (alignment_tax.benchmarks).
DATASET_KEYS = ("dataset_path", "dataset_name", "dataset_kwargs")


class SQuAD2TokenF1(SQuAD2):
    def __init__(self, config=None):
        # SQuAD2.__init__ drops the YAML's keys and loads lighteval/squad_v2 from the hub;
        # this makes the same call with the data set keys of the YAML added, so a copy can
        # read local files in SQuAD v2's schema (its "validation" split).
        dataset = {k: config[k] for k in DATASET_KEYS if config and config.get(k) is not None}
        ConfigurableTask.__init__(self, config={"metadata": {"version": self.VERSION}, **dataset})

    def has_training_docs(self):
        # a local copy may hold the validation split only (few-shot examples then come from
        # it, as lm-eval does for any task without a training split); the hub copy has both
        return "train" in getattr(self, "dataset", {"train": None})

    def process_results(self, doc, results):
        continuation = results[0]
        golds = list(doc["answers"]["text"])
        return {"f1": token_f1(continuation, golds), "exact": exact_match(continuation, golds)}

    def aggregation(self):
        return {"f1": mean, "exact": mean}

    def higher_is_better(self):
        return {"f1": True, "exact": True}
