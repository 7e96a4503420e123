"""Forgetting-mitigation baselines in the paper's distillation style (section 4.1, D.4, C.1).

The paper runs RSF to convergence, collects the best-of-n samples along the way, and then
fine-tunes theta0 (the SFT model) on that pool again with one remedy added. Here that is a
TRL SFTTrainer run on ``models/rlhf/rsf/pool.jsonl``, starting from ``models/sft``.

The loss terms are the authors' (``src/lmflow/pipeline/utils/continual_trainer.py`` of
their public code), normalised by the parameter count so that a weight means the same at
1M and at 3B parameters (an unnormalised sum over 3B parameters dominates the loss at every
value of the paper's grid):

* ``l1``: loss + lambda * 1e5 * sum|theta - theta0| / n_params.
* ``l2``: loss + lambda * 1e9 * sum (theta - theta0)^2 / n_params (L2-SP, Xuhong et al.
  2018, which the paper cites). n_params counts the trainable parameters, against a frozen
  copy of theta0 taken before training. Weight 0 is exactly plain fine-tuning.
* ``distillation``: loss + lambda * KL(pi_theta0 || pi_theta) of the next-token
  distributions, temperature 1, summed over the positions the LM loss trains and divided by
  the number of sequences in the batch (``nn.KLDivLoss(reduction="batchmean")`` in the
  authors' code), with the frozen theta0 as the teacher.
* ``lora_mlp`` / ``lora_mlp_attn``: PEFT LoRA (rank = value; alpha, dropout from config) on
  the MLP projections, or on MLP and attention projections; merged into the base weights
  (merge_and_unload) before saving, so the output is a plain checkpoint.
* ``sma``: stochastic moving averaging (Noukhovitch et al., whom the paper cites for SMA; the
  paper gives no further definition and the authors' "swa" trainer is plain fine-tuning,
  the averaging done outside it). Here: an exponential moving average of the weights,
  started at theta0, updated after every optimizer step, and saved as the model. The value
  is the weight the average keeps on theta0 at the end of training, w0; the per-step decay
  is w0 ** (1 / total steps), so the average weighs the training trajectory the same way
  whatever the number of steps (a fixed per-step decay of 0.99 forgets theta0 after a few
  hundred steps, and SMA would equal plain fine-tuning at the paper's 1,280 steps).
  ``sma_resets`` > 0 adds Noukhovitch et al.'s elastic reset: the trained weights are set
  to the average that many times, evenly spaced over training (the average itself, the
  model we keep, is never reset).
* ``replay``: pretraining documents (``{"text"}`` rows) mixed into the pool, ``value`` times
  the pool's tokens (appendix D: the ratio is a data proportion, not a loss weight), both
  counted as trained: a row's tokens with EOS, truncated at ``max_length``; trained with the
  LM loss on the whole document and shuffled with the pool rows.

Everything else (optimizer, schedule, batch layout, resume from Trainer checkpoints,
atomic saves) is the training stage's: ``alignment_tax.sft.sft_trainer`` and
``alignment_tax.training_common``. The extra loss terms are not in TRL, hence the subclass.
Early stopping and the PPO KL penalty need no training here (alignment_tax.baseline_models).

Limit: the weight penalties keep a full copy of theta0 next to the model and compare
tensor by tensor, which works on one device and under DDP but not with sharded parameters
(FSDP, ZeRO-3); that case stops with an error.
"""

from __future__ import annotations

import json
import logging
import os
import random
from pathlib import Path

from alignment_tax.baseline_models import INTEGER_METHODS, TRAINED_METHODS
from alignment_tax.io import read_jsonl
from alignment_tax.training_common import (
    is_main_process,
    last_checkpoint,
    load_causal_lm,
    remove_work_dir,
    require_keys,
    run_phase,
    save_model,
    set_seed,
    stage_loading,
    trainer_kwargs,
    wait_for_everyone,
)

logger = logging.getLogger(__name__)

# LLaMA-family module names (OpenLLaMA, Mistral, the toy LlamaForCausalLM)
MLP_MODULES = ["gate_proj", "up_proj", "down_proj"]
ATTENTION_MODULES = ["q_proj", "k_proj", "v_proj", "o_proj"]
EMA_FILE = "sma_ema.safetensors"
# The authors' scales of the parameter-count-normalised penalties (continual_trainer.py):
# lambda * L1_SCALE * mean|theta - theta0| and lambda * L2_SCALE * mean (theta - theta0)^2.
L1_SCALE = 1e5
L2_SCALE = 1e9
DEFAULT_MAX_LENGTH = 1024  # as alignment_tax.sft.sft_trainer


# --------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------


def read_pool(path: str | os.PathLike) -> list[dict]:
    """RSF best-of-n pool (rows ``{"iteration", "prompt", "response", "reward", ...}``, see
    alignment_tax.rsf) -> SFT rows ``{"prompt", "completion"}``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"RSF pool: file {str(path)!r} does not exist")
    rows = read_jsonl(path)
    out = []
    for i, row in enumerate(rows):
        if "prompt" not in row or "response" not in row:
            raise KeyError(f"{path}: row {i} lacks 'prompt' or 'response'")
        out.append({"prompt": row["prompt"], "completion": row["response"]})
    if not out:
        raise ValueError(f"{path}: the RSF pool is empty")
    return out


def trained_length(tokenizer, prompt: str, completion: str, max_length: int | None) -> int:
    """Tokens the model is trained on for one prompt/completion row: the row as TRL's
    SFTTrainer tokenises it (prompt + completion + EOS), truncated at ``max_length``; 0
    when the prompt alone fills ``max_length`` (TRL drops such a row: nothing to learn)."""
    n = len(tokenizer(prompt + completion + (tokenizer.eos_token or ""))["input_ids"])
    if max_length is None:
        return n
    if prompt and len(tokenizer(prompt)["input_ids"]) >= max_length:
        return 0
    return min(n, int(max_length))


def replay_rows(
    pretrain_path: str | os.PathLike,
    pool_rows: list[dict],
    ratio: float,
    tokenizer,
    *,
    seed: int,
    max_length: int | None,
) -> list[dict]:
    """Pretraining documents amounting to ``ratio`` times the pool's tokens (appendix D:
    "given alignment data of 400M tokens and a penalty of 2, we sample 800M tokens"),
    drawn uniformly without replacement. Both sides count the tokens actually trained on
    (``trained_length``: a document longer than ``max_length`` adds only ``max_length``).
    A document is an SFT row with an empty prompt, so the loss covers the whole document,
    as in pretraining."""
    path = Path(pretrain_path)
    if not path.is_file():
        raise FileNotFoundError(f"replay pretraining data: file {str(path)!r} does not exist")
    if ratio <= 0:
        return []
    budget = ratio * sum(
        trained_length(tokenizer, r["prompt"], r["completion"], max_length) for r in pool_rows
    )
    # Only the drawn lines are parsed: the paper config's pretraining sample is large.
    with path.open(encoding="utf-8") as handle:
        lines = [line for line in handle if line.strip()]
    if not lines:
        raise ValueError(f"{path}: no pretraining documents")
    order = list(range(len(lines)))
    random.Random(seed).shuffle(order)
    rows, tokens = [], 0
    for i in order:
        doc = json.loads(lines[i])
        if "text" not in doc:
            raise KeyError(f"{path}: line {i + 1} has no 'text'")
        rows.append({"prompt": "", "completion": doc["text"]})
        tokens += trained_length(tokenizer, "", doc["text"], max_length)
        if tokens >= budget:
            break
    else:
        logger.warning(
            "replay ratio %s asks for %d tokens; the corpus has only %d", ratio, budget, tokens
        )
    logger.info(
        "replay: %d documents, %d trained tokens (pool x %s, max_length %s)",
        len(rows),
        tokens,
        ratio,
        max_length,
    )
    return rows


# --------------------------------------------------------------------------------------
# Trainer with an extra loss term
# --------------------------------------------------------------------------------------


def _penalised_trainer_class():
    """SFTTrainer + an L1/L2 weight penalty or a distillation term (built lazily so that
    importing this module does not import TRL)."""
    import torch
    import torch.nn.functional as F
    from trl import SFTTrainer

    class PenalisedSFTTrainer(SFTTrainer):
        def __init__(self, *args, penalty: str, penalty_weight: float, teacher=None, **kwargs):
            super().__init__(*args, **kwargs)
            if penalty not in ("l1", "l2", "distillation"):
                raise ValueError(f"unknown penalty {penalty!r}")
            self.penalty = penalty
            self.penalty_weight = float(penalty_weight)
            self.teacher = None
            self.reference = None
            if penalty == "distillation":
                if teacher is None:
                    raise ValueError("distillation needs the theta0 teacher model")
                self.teacher = teacher.to(self.args.device).eval()
                for p in self.teacher.parameters():
                    p.requires_grad_(False)
            else:
                # frozen theta0: the model has not been trained yet, so its weights are theta0
                self.reference = [
                    (name, p, p.detach().clone())
                    for name, p in self.model.named_parameters()
                    if p.requires_grad
                ]

        def weight_penalty(self):
            """L1_SCALE * mean|theta - theta0| (l1) or L2_SCALE * mean (theta - theta0)^2
            (l2) over the trainable parameters: the authors' normalised penalty."""
            total, n_params = 0.0, 0
            for name, p, ref in self.reference:
                if p.shape != ref.shape:
                    raise RuntimeError(
                        f"parameter {name} is sharded ({tuple(p.shape)} vs {tuple(ref.shape)}): "
                        "the L1/L2 baselines do not support FSDP / ZeRO-3"
                    )
                diff = p.float() - ref.float()
                total = total + (diff.abs().sum() if self.penalty == "l1" else diff.pow(2).sum())
                n_params += p.numel()
            scale = L1_SCALE if self.penalty == "l1" else L2_SCALE
            return total * (scale / max(n_params, 1))

        def distillation_penalty(self, inputs, logits):
            """KL(teacher || student) of the next-token distributions (temperature 1), summed
            over the positions the LM loss trains, divided by the number of sequences."""
            with torch.no_grad():
                teacher_logits = self.teacher(
                    input_ids=inputs["input_ids"], attention_mask=inputs.get("attention_mask")
                ).logits
            # logits at t predict token t+1: compare where the label of t+1 is trained
            mask = (inputs["labels"][:, 1:] != -100).float()
            log_student = F.log_softmax(logits[:, :-1].float(), dim=-1)
            log_teacher = F.log_softmax(teacher_logits[:, :-1].float(), dim=-1)
            per_token = F.kl_div(log_student, log_teacher, reduction="none", log_target=True)
            return (per_token.sum(-1) * mask).sum() / logits.shape[0]

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            kd_inputs = None
            if self.penalty == "distillation":
                kd_inputs = {
                    k: inputs[k] for k in ("input_ids", "attention_mask", "labels") if k in inputs
                }
            loss, outputs = super().compute_loss(
                model, inputs, return_outputs=True, num_items_in_batch=num_items_in_batch
            )
            if self.penalty == "distillation":
                term = self.distillation_penalty(kd_inputs, outputs.logits)
            else:
                term = self.weight_penalty()
            # Trainer divides the loss by the accumulation steps unless the model already
            # normalised it over the whole accumulated batch; the penalty must count once
            # per optimizer step either way.
            scaled = getattr(self, "loss_is_scaled_for_ga", None)
            if scaled is None:
                scaled = (
                    self.model_accepts_loss_kwargs and num_items_in_batch is not None
                ) or self.compute_loss_func is not None
            factor = 1.0 / self.current_gradient_accumulation_steps if scaled else 1.0
            loss = loss + self.penalty_weight * factor * term
            mode = "train" if self.model.training else "eval"
            self._metrics[mode][f"{self.penalty}_penalty"].append(float(term.detach()))
            return (loss, outputs) if return_outputs else loss

    return PenalisedSFTTrainer


def sma_step_decay(theta0_weight: float, total_steps: int) -> float:
    """Per-step EMA decay that leaves ``theta0_weight`` on the starting weights (theta0)
    after ``total_steps`` updates: d ** total_steps = w0."""
    if not 0.0 <= theta0_weight < 1.0:
        raise ValueError(f"SMA: the weight on theta0 must be in [0, 1), got {theta0_weight}")
    if total_steps < 1:
        raise ValueError(f"SMA: training has {total_steps} optimizer steps")
    return float(theta0_weight) ** (1.0 / total_steps)


def sma_reset_steps(resets: int, total_steps: int) -> set[int]:
    """The optimizer steps of ``resets`` elastic resets, evenly spaced over training."""
    return {round(k * total_steps / (resets + 1)) for k in range(1, resets + 1)} - {0}


def sma_callback(theta0_weight: float, resets: int = 0, resume_dir: str | None = None):
    """TrainerCallback keeping an exponential moving average of the weights (SMA).

    The average starts at the initial weights (theta0) and is updated after each optimizer
    step with the decay that leaves ``theta0_weight`` on theta0 at the end of training
    (``sma_step_decay`` of the run's total steps); it is saved in each Trainer checkpoint
    (resume) and written into the model at the end, so that the saved model is the average.
    """
    import torch
    from safetensors.torch import load_file, save_file
    from transformers import TrainerCallback

    class SMACallback(TrainerCallback):
        def __init__(self):
            self.ema: dict | None = None
            self.decay: float | None = None
            self.reset_at: set[int] = set()

        def _params(self, model):
            return {n: p for n, p in model.named_parameters() if p.requires_grad}

        def on_train_begin(self, args, state, control, model=None, **kwargs):
            self.decay = sma_step_decay(theta0_weight, state.max_steps)
            self.reset_at = sma_reset_steps(int(resets or 0), state.max_steps)
            logger.info(
                "SMA: weight %s on theta0 after %d steps: decay %.6f per step, resets at %s",
                theta0_weight,
                state.max_steps,
                self.decay,
                sorted(self.reset_at),
            )
            params = self._params(model)
            ema_file = Path(resume_dir) / EMA_FILE if resume_dir else None
            if ema_file is not None and ema_file.is_file():
                loaded = load_file(str(ema_file))
                self.ema = {n: loaded[n].to(p.device) for n, p in params.items()}
            else:
                if resume_dir:
                    logger.warning("SMA: %s has no %s; average restarts here", resume_dir, EMA_FILE)
                self.ema = {n: p.detach().float().clone() for n, p in params.items()}

        @torch.no_grad()
        def on_step_end(self, args, state, control, model=None, **kwargs):
            for n, p in self._params(model).items():
                self.ema[n].mul_(self.decay).add_(p.detach().float(), alpha=1.0 - self.decay)
            if state.global_step in self.reset_at:
                for n, p in self._params(model).items():
                    p.copy_(self.ema[n].to(p.dtype))

        def on_save(self, args, state, control, **kwargs):
            ckpt = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            if ckpt.is_dir() and state.is_world_process_zero:
                save_file(
                    {n: t.cpu().contiguous() for n, t in self.ema.items()}, str(ckpt / EMA_FILE)
                )

        @torch.no_grad()
        def on_train_end(self, args, state, control, model=None, **kwargs):
            for n, p in self._params(model).items():
                p.copy_(self.ema[n].to(p.dtype))

    return SMACallback()


def lora_config(method: str, rank: int, params: dict):
    """PEFT LoraConfig: MLP projections only, or MLP and attention projections."""
    from peft import LoraConfig

    targets = MLP_MODULES + (ATTENTION_MODULES if method == "lora_mlp_attn" else [])
    return LoraConfig(
        r=int(rank),
        lora_alpha=params.get("lora_alpha", 32),
        lora_dropout=params.get("lora_dropout", 0.05),
        target_modules=targets,
        task_type="CAUSAL_LM",
    )


def build_trainer(
    method: str,
    value,
    model,
    tokenizer,
    rows: list[dict],
    *,
    params: dict,
    seed: int,
    output_dir: str,
    teacher=None,
):
    """The SFTTrainer of one baseline (method, value); value None = plain fine-tuning."""
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    args = SFTConfig(
        **trainer_kwargs(
            params,
            output_dir=output_dir,
            seed=seed,
            lr=params["lr"],
            epochs=params["epochs"],
            batch_size=params["batch_size"],
        ),
        max_length=params.get("max_length", DEFAULT_MAX_LENGTH),
        completion_only_loss=True,
        packing=False,
        # distillation compares full logits; TRL's default chunked loss does not return them
        **({"loss_type": "nll"} if method == "distillation" else {}),
    )
    common = dict(
        model=model, args=args, train_dataset=Dataset.from_list(rows), processing_class=tokenizer
    )
    if method in ("l1", "l2", "distillation"):
        cls = _penalised_trainer_class()
        return cls(**common, penalty=method, penalty_weight=value, teacher=teacher)
    if method in ("lora_mlp", "lora_mlp_attn"):
        missing = [
            m for m in MLP_MODULES if not any(n.endswith(m) for n, _ in model.named_modules())
        ]
        if missing:
            raise ValueError(
                f"LoRA baseline: the model has no {missing} modules (LLaMA names expected)"
            )
        return SFTTrainer(**common, peft_config=lora_config(method, value, params))
    if method == "sma":
        if not 0.0 <= float(value) < 1.0:
            raise ValueError(f"SMA: the weight on theta0 must be in [0, 1), got {value}")
        callback = sma_callback(
            float(value), int(params.get("sma_resets") or 0), last_checkpoint(output_dir)
        )
        return SFTTrainer(**common, callbacks=[callback])
    if method in ("replay", "plain"):
        return SFTTrainer(**common)
    raise ValueError(f"unknown baseline method {method!r}; known: {list(TRAINED_METHODS)}")


def train_baseline(
    sft_dir: str | os.PathLike,
    rsf_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    work_dir: str | os.PathLike,
    method: str,
    value,
    params: dict,
    *,
    seed: int,
    pretrain_path: str | os.PathLike | None = None,
    model_kwargs: dict | None = None,
) -> Path:
    """Fine-tune theta0 (``sft_dir``) on the RSF pool (``rsf_dir``/pool.jsonl, RSF's
    best-of-n samples) with one remedy; save to ``out_dir``.

    params: the config's ``baselines`` section's training keys (epochs, lr, batch_size;
    optional lora_alpha, lora_dropout, sma_resets, max_length, scheduler,
    warmup_ratio, micro_batch_size, save_steps, bf16, gradient_checkpointing).
    """
    if method not in TRAINED_METHODS and method != "plain":
        raise ValueError(f"unknown baseline method {method!r}; known: {list(TRAINED_METHODS)}")
    require_keys(params, "baselines", ("epochs", "lr", "batch_size"))
    if method == "replay" and pretrain_path is None:
        raise ValueError("the replay baseline needs the pretraining data (data/pretrain.jsonl)")
    value = int(value) if method in INTEGER_METHODS else (None if value is None else float(value))
    model_kwargs = model_kwargs or {}
    set_seed(seed)
    rows = read_pool(Path(rsf_dir) / "pool.jsonl")
    tokenizer, load = stage_loading(sft_dir, model_kwargs)
    if method == "replay":
        rows = rows + replay_rows(
            pretrain_path,
            rows,
            value,
            tokenizer,
            seed=seed,
            max_length=params.get("max_length", DEFAULT_MAX_LENGTH),
        )
    meta = {"method": method, "value": value, "n_rows": len(rows), "seed": seed}

    def build(output_dir):
        model = load_causal_lm(sft_dir, **load)
        teacher = load_causal_lm(sft_dir, **load) if method == "distillation" else None
        return build_trainer(
            method,
            value,
            model,
            tokenizer,
            rows,
            params=params,
            seed=seed,
            output_dir=output_dir,
            teacher=teacher,
        )

    final = run_phase(work_dir, "finetune", build, tokenizer)
    if is_main_process():
        if method in ("lora_mlp", "lora_mlp_attn"):
            from peft import PeftModel

            from alignment_tax.loading import require_safetensors

            # the phase saved the adapter; fold it into theta0 for a plain checkpoint. PEFT
            # reads adapter_model.safetensors when it exists (a pickled .bin otherwise):
            # require it first
            require_safetensors(final, "LoRA adapter", pattern="adapter_model.safetensors")
            model = PeftModel.from_pretrained(load_causal_lm(sft_dir, **load), final)
            model = model.merge_and_unload()
        else:
            model = load_causal_lm(final, **load)
        save_model(model, tokenizer, out_dir, extra_json={"baseline.json": meta})
    wait_for_everyone()
    remove_work_dir(work_dir)
    return Path(out_dir)


def write_pretrain_sample(spec: dict, out_path: str | os.PathLike, *, seed: int) -> int:
    """Public pretraining sample (config ``datasets.pretrain_sample``, paper: RedPajama 1T
    sample) -> ``data/pretrain.jsonl`` rows ``{"text"}`` for the replay baseline; the toy
    world writes that file itself. ``max_rows`` keeps a seeded random subset."""
    from alignment_tax.hub_data import load_hub_dataset
    from alignment_tax.io import write_jsonl

    data = load_hub_dataset(spec)
    if "text" not in data.column_names:
        raise KeyError(
            f"config key 'datasets.pretrain_sample': {spec['hub_id']} has no 'text' column "
            f"(columns: {data.column_names})"
        )
    texts = [t for t in data["text"] if t and t.strip()]
    if spec.get("max_rows") and spec["max_rows"] < len(texts):
        texts = random.Random(seed).sample(texts, spec["max_rows"])
    write_jsonl(out_path, ({"text": t} for t in texts))
    return len(texts)
