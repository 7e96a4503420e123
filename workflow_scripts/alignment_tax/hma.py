"""Heterogeneous Model Averaging (HMA, section 6, appendices B.1 and D.5) and the shared
ratio-fitting loop that AdaMerging (adamerging.py) reuses.

Convention: every ratio is the WEIGHT ON theta0 (the pre-RLHF SFT model):
merged part k = r_k * theta0 + (1 - r_k) * theta; r = 0 is the RLHF model.

What is fitted: K ratio logits s_1..s_K (fp32), nothing else. The merged model is never
copied K times: theta0 stays in the module, delta = theta - theta0 is held once, and every
forward pass builds the merged tensors theta0 + (1 - r_k) * delta from the LIVE fp32
logits and calls the module with torch.func.functional_call. (The public code merges from
a stale bf16 copy of the logits, so all parts share one ratio while fitting: not copied.)

Parameterisation (Eq. 11 with the factor K, plus an upper bound the paper's code lacks):
    u_i = sigmoid(s_i) + epsilon,   q_i = K u_i / sum_j u_j           (mean of q is 1)
    d_i = alpha (q_i - 1)           (the authors' ratio K alpha u_i / sum u minus alpha)
    c   = min(1, (1 - alpha) / max_i d_i)
    r_i = alpha + c d_i
Sum of d is 0, so the mean of r is exactly alpha for any c. c = 1 gives the authors'
ratios whenever they are all <= 1; otherwise the deviation vector is shrunk towards alpha
just enough that the largest ratio is 1. The lower bound needs no shrinking:
alpha + c d_i >= alpha + d_i = alpha q_i >= 0 for d_i < 0. The map is continuous and
piecewise smooth, so gradients reach every s_i; epsilon still bounds how unequal the u_i
(hence the ratios) can get, as in the paper.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch.func import functional_call

from alignment_tax.merging import check_state_dicts, policy_anchor, tensor_kind


def hma_ratios(logits: torch.Tensor, alpha: float, epsilon: float = 0.0) -> torch.Tensor:
    """K ratios in [0, 1] with mean exactly alpha (see the module docstring)."""
    logits = logits.float()
    k = logits.numel()
    u = torch.sigmoid(logits) + epsilon
    q = k * u / u.sum()
    d = alpha * (q - 1.0)
    d = d - d.mean()  # remove float round-off so the mean is alpha to machine precision
    top = d.max()
    if float(top.detach()) <= 0.0:  # all ratios equal alpha
        return torch.full_like(d, alpha) + d
    c = torch.clamp((1.0 - alpha) / top, max=1.0)
    return (alpha + c * d).clamp(0.0, 1.0)


def initial_logits(k: int, alpha: float) -> torch.Tensor:
    """s_i = logit(alpha) for every part, as the authors' code (all ratios start at alpha)."""
    a = min(max(alpha, 1e-4), 1 - 1e-4)
    return torch.full((k,), math.log(a / (1 - a)), dtype=torch.float32)


def l1_weights(ranges: Sequence[tuple[int, int]], num_layers: int) -> torch.Tensor:
    """Weights 25 / (|centre of part - middle layer| + 1): the middle moves least (D.5)."""
    middle = num_layers / 2
    centres = [(start + end - 1) / 2 for start, end in ranges]
    return torch.tensor([25.0 / (abs(c - middle) + 1.0) for c in centres])


# --------------------------------------------------------------------------- merged params


class _MergeTensor(torch.autograd.Function):
    """merged = base + weight * delta, summed in fp32 and rounded once to base's dtype.

    Written by hand because autograd's own fp32 version (base.float() + weight *
    delta.float()) keeps an fp32 copy of every delta alive for the backward pass (28 GB
    more for a 7B bf16 pair); this one keeps only the delta it already holds and upcasts
    it tensor by tensor when the gradient of the (fp32, 0-dim) weight is needed.
    """

    @staticmethod
    def forward(ctx, weight, base, delta):
        ctx.save_for_backward(delta)
        if base.dtype == torch.float32:
            return torch.addcmul(base, delta, weight)
        return torch.addcmul(base.float(), delta.float(), weight).to(base.dtype)

    @staticmethod
    def backward(ctx, grad):
        (delta,) = ctx.saved_tensors
        grad_weight = torch.dot(grad.reshape(-1).float(), delta.reshape(-1).float())
        return grad_weight, None, None


class MergedParameters:
    """theta0 (kept in the module) + delta per part; builds the merged parameter dict.

    CONSUMES ``theta_state``: its tensors that follow a part are turned into delta =
    theta - theta0 in place, so fitting holds two copies of the weights, not three.

    ``source[name]`` is a part index k (tensor follows r_k) or a constant ratio.
    Constant tensors are merged once and written into the module; only the tensors that
    follow a part are passed to functional_call.
    """

    def __init__(self, model, theta_state: Mapping[str, torch.Tensor],
                 ranges: Sequence[tuple[int, int]], policies: Mapping[str, str], alpha: float):
        self.model = model
        names = [n for n, _ in model.named_parameters()]
        own = dict(model.named_parameters())
        check_state_dicts({n: own[n] for n in names}, {n: theta_state[n] for n in names})
        layer_part = {}
        for k, (start, end) in enumerate(ranges):
            for layer in range(start, end):
                layer_part[layer] = k
        num_layers = ranges[-1][1]
        tied = bool(getattr(model.config, "tie_word_embeddings", False))
        self.source: dict[str, int | float] = {}
        for name in names:
            kind, layer = tensor_kind(name)
            if kind == "linear":
                self.source[name] = layer_part[layer]
                continue
            # the same rule as the recipe's ratio map (a tied lm_head/embedding matrix
            # follows lm_head), so the fitted merge is the one materialize() builds
            key, anchor = policy_anchor(kind, layer, num_layers, tied=tied)
            policy = policies[key]
            if policy == "part":
                self.source[name] = layer_part[anchor]
            else:
                self.source[name] = {"alpha": alpha, "theta0": 1.0, "theta": 0.0}[policy]
        self.base: dict[str, torch.Tensor] = {}
        self.delta: dict[str, torch.Tensor] = {}
        with torch.no_grad():
            for name, param in model.named_parameters():
                param.requires_grad_(False)
                src = self.source[name]
                theta = theta_state[name].to(param.device, param.dtype)
                if isinstance(src, int):
                    self.base[name] = param.detach()
                    # theta's tensor becomes delta in place: no third copy of the model
                    self.delta[name] = theta.sub_(param.detach())
                elif src != 1.0:  # constant merge, written into the module once
                    param.copy_(src * param.float() + (1 - src) * theta.float())

    def params(self, ratios: torch.Tensor) -> dict[str, torch.Tensor]:
        weights_on_theta = 1.0 - ratios  # fp32, live: gradients flow back to the logits
        out = {}
        for name, base in self.base.items():
            # the weight stays fp32 (never cast to the weights' dtype: near 0.8 a bf16 step
            # is 0.004, larger than a whole 2e-5 update of a ratio)
            out[name] = _MergeTensor.apply(weights_on_theta[self.source[name]], base,
                                           self.delta[name])
        return out

    def loss(self, ratios: torch.Tensor, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        out = functional_call(self.model, self.params(ratios), args=(), kwargs=dict(batch))
        return out.loss


# --------------------------------------------------------------------------- data


def encode_examples(tokenizer, examples: Sequence[tuple[str, str]], max_length: int) -> list:
    """(prompt, response) -> (input ids, labels) with the prompt masked: the loss is the
    log-likelihood of the response given the prompt (Eq. 9). Long rows are cut at
    max_length (merging.hma.block_size). The prompt gets the tokenizer's default special
    tokens (a BOS for LLaMA/Mistral tokenizers), as when D_theta's answers were sampled
    (generation.sample_responses)."""
    rows = []
    for prompt, response in examples:
        p = tokenizer(prompt)["input_ids"]
        r = tokenizer(response, add_special_tokens=False)["input_ids"]
        if tokenizer.eos_token_id is not None:
            r = r + [tokenizer.eos_token_id]
        ids = (p + r)[:max_length]
        labels = ([-100] * len(p) + r)[:max_length]
        if any(label != -100 for label in labels):
            rows.append((ids, labels))
    if not rows:
        raise ValueError("no training example keeps a response token within max_length")
    return rows


def collate(rows, pad_id: int, device) -> dict[str, torch.Tensor]:
    width = max(len(ids) for ids, _ in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    labels = torch.full((len(rows), width), -100, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, (row_ids, row_labels) in enumerate(rows):
        ids[i, : len(row_ids)] = torch.tensor(row_ids)
        labels[i, : len(row_labels)] = torch.tensor(row_labels)
        mask[i, : len(row_ids)] = 1
    return {"input_ids": ids.to(device), "attention_mask": mask.to(device),
            "labels": labels.to(device)}


# --------------------------------------------------------------------------- fitting


@dataclass
class FitSettings:
    alpha: float
    lr: float
    epsilon: float = 0.0
    scheduler: str = "cosine"
    warmup_ratio: float = 0.0
    epochs: float = 1.0
    steps: int | None = None  # overrides epochs when set (AdaMerging)
    batch_size: int = 8
    max_length: int = 512
    l1_weight: float = 0.0
    seed: int = 0


def fit_ratios(model, theta_state, tokenizer, examples: Sequence[tuple[str, str]], *,
               ranges: Sequence[tuple[int, int]], policies: Mapping[str, str],
               settings: FitSettings, log=None, summary: dict | None = None,
               heldout: Sequence[tuple[str, str]] | None = None,
               ) -> tuple[list[float], list[dict]]:
    """Fit one ratio per range (weight on theta0, mean held at settings.alpha).

    ``model`` is theta0 loaded as a module (its constant tensors are overwritten by the
    merge); ``theta_state`` is theta's state dict, consumed (turned into delta in place).
    Returns (ratios, curve) where curve has
    one dict per step: step, epoch, lr, loss, nll, l1, ratio_1..ratio_K.
    ``summary``, when given, receives the mean NLL over ALL examples at the start (every
    ratio = alpha, i.e. plain averaging) and at the fitted ratios: nll_at_alpha, nll_fitted.
    ``heldout`` rows are never fitted on: after fitting, ``summary`` gets their mean NLL at
    alpha and at the fitted ratios (heldout_nll_at_alpha, heldout_nll) and the objective on
    them (heldout_loss = heldout_nll + the L1 term at the fitted ratios), which selects
    among candidate learning rates and epsilons (hma_selection.select_candidate).
    """
    if not 0.0 <= settings.alpha <= 1.0:
        raise ValueError(f"alpha {settings.alpha} outside [0, 1]")
    k = len(ranges)
    num_layers = ranges[-1][1]
    device = next(model.parameters()).device
    model.eval()  # only the ratios are trained: no dropout
    merged = MergedParameters(model, theta_state, ranges, policies, settings.alpha)
    rows = encode_examples(tokenizer, examples, settings.max_length)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    batches_per_epoch = math.ceil(len(rows) / settings.batch_size)
    total = settings.steps or max(1, math.ceil(settings.epochs * batches_per_epoch))

    logits = torch.nn.Parameter(initial_logits(k, settings.alpha).to(device))
    optimizer = torch.optim.Adam([logits], lr=settings.lr)
    from transformers import get_scheduler

    scheduler = get_scheduler(settings.scheduler, optimizer,
                              num_warmup_steps=int(settings.warmup_ratio * total),
                              num_training_steps=total)
    weights = l1_weights(ranges, num_layers).to(device)
    rng = random.Random(settings.seed)
    order: list[int] = []
    curve = []
    for step in range(1, total + 1):
        if len(order) < settings.batch_size:
            fresh = list(range(len(rows)))
            rng.shuffle(fresh)
            order += fresh
        batch_rows = [rows[i] for i in order[: settings.batch_size]]
        del order[: settings.batch_size]
        batch = collate(batch_rows, pad, device)
        ratios = hma_ratios(logits, settings.alpha, settings.epsilon)  # live fp32 logits
        nll = merged.loss(ratios, batch)
        l1 = settings.l1_weight * (weights * (ratios - settings.alpha).abs()).sum()
        loss = nll + l1
        lr = scheduler.get_last_lr()[0]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        row = {"step": step, "epoch": step / batches_per_epoch, "lr": lr,
               "loss": loss.item(), "nll": nll.item(), "l1": float(l1.detach())}
        row.update({f"ratio_{i + 1}": float(r) for i, r in enumerate(ratios.detach())})
        curve.append(row)
        if log is not None and (step == 1 or step % 10 == 0 or step == total):
            log.info("step %d/%d loss %.4f ratios %s", step, total, row["loss"],
                     [round(float(r), 4) for r in ratios.detach()])
    with torch.no_grad():
        final = hma_ratios(logits, settings.alpha, settings.epsilon)
        if summary is not None:
            start = torch.full_like(final, settings.alpha)
            summary["nll_at_alpha"] = _dataset_nll(merged, start, rows, pad, device,
                                                   settings.batch_size)
            summary["nll_fitted"] = _dataset_nll(merged, final, rows, pad, device,
                                                 settings.batch_size)
            if heldout:
                held = encode_examples(tokenizer, heldout, settings.max_length)
                summary["n_heldout"] = len(held)
                summary["heldout_nll_at_alpha"] = _dataset_nll(merged, start, held, pad,
                                                               device, settings.batch_size)
                summary["heldout_nll"] = _dataset_nll(merged, final, held, pad, device,
                                                      settings.batch_size)
                l1 = settings.l1_weight * (weights * (final - settings.alpha).abs()).sum()
                summary["heldout_loss"] = summary["heldout_nll"] + float(l1)
    return [float(r) for r in final], curve


def _dataset_nll(merged: MergedParameters, ratios, rows, pad, device, batch_size) -> float:
    """Token-weighted mean NLL of every row under the given ratios."""
    total, tokens = 0.0, 0
    for start in range(0, len(rows), batch_size):
        chunk = rows[start : start + batch_size]
        batch = collate(chunk, pad, device)
        n = int((batch["labels"][:, 1:] != -100).sum())
        total += float(merged.loss(ratios, batch)) * n
        tokens += n
    return total / max(tokens, 1)


def load_pair_for_fit(theta0_dir: str, theta_dir: str, *, device: str = "cpu", dtype=None,
                      use_fast: bool = True, trust_remote_code: bool = False):
    """theta0 as a module (gradients off) and theta's state dict; checks the pair first.
    Both load from safetensors only (alignment_tax.loading)."""
    from alignment_tax.loading import load_causal_lm
    from alignment_tax.merging import validate_pair

    validate_pair(theta0_dir, theta_dir, use_fast=use_fast, trust_remote_code=trust_remote_code)
    model = load_causal_lm(theta0_dir, dtype=dtype, trust_remote_code=trust_remote_code,
                           what="theta0").to(device)
    theta = load_causal_lm(theta_dir, dtype=dtype, trust_remote_code=trust_remote_code,
                           what="theta")
    theta_state = {k: v.detach().to(device) for k, v in theta.state_dict().items()}
    del theta
    return model.requires_grad_(False), theta_state


# --------------------------------------------------------------------------- D_theta


def build_dataset(policy, reward_model, tokenizer, prompts: Sequence[str], *,
                  n_top: int, n_train: int, max_new_tokens: int, temperature: float,
                  batch_size: int, seed: int, rm_tokenizer=None,
                  n_heldout: int = 0) -> list[dict]:
    """D_theta: the RLHF policy's answers to RLHF training prompts, ranked by the reward
    model; ``n_train`` + ``n_heldout`` rows drawn (seeded) from the ``n_top``
    highest-reward answers (paper: 2000 of the best 5000). Rows: {"prompt", "response",
    "reward", "split"}; split is "train" for the rows HMA fits on and "heldout" for a
    seeded split of ``n_heldout`` rows that only scores the fits (learning-rate and
    epsilon selection). ``reward_model=None`` skips the ranking (the first ``n_top``
    answers, rewards 0)."""
    from alignment_tax.generation import sample_responses
    from alignment_tax.reward_scoring import score_texts

    if n_train + n_heldout > n_top:
        raise ValueError(f"merging.hma.n_train_samples ({n_train}) + n_heldout_samples "
                         f"({n_heldout}) > n_top_samples ({n_top})")
    responses = [r[0] for r in sample_responses(
        policy, tokenizer, list(prompts), n=1, max_new_tokens=max_new_tokens,
        temperature=temperature, batch_size=batch_size, seed=seed)]
    if reward_model is None:  # no ranking: every answer counts as "top"
        rewards = [0.0] * len(responses)
    else:
        rewards = score_texts(reward_model, rm_tokenizer or tokenizer, list(prompts),
                              responses, batch_size=batch_size)
    rows = [{"prompt": p, "response": r, "reward": float(s)}
            for p, r, s in zip(prompts, responses, rewards, strict=True) if r.strip()]
    rows.sort(key=lambda row: row["reward"], reverse=True)
    top = rows[:n_top]
    if len(top) < n_train + n_heldout:
        raise ValueError(f"only {len(top)} non-empty answers for n_train_samples={n_train} "
                         f"+ n_heldout_samples={n_heldout}")
    picked = random.Random(seed).sample(range(len(top)), n_train + n_heldout)
    heldout = set(picked[:n_heldout])
    return [{**top[i], "split": "heldout" if i in heldout else "train"} for i in sorted(picked)]


def chat_prompts(tokenizer, prompts: Sequence[str]) -> list[str]:
    """Each prompt as the model's own chat template renders one user turn, ending where the
    assistant's answer starts (add_generation_prompt=True). A BOS token that the template
    writes is dropped when the tokenizer adds one itself (generation and fitting tokenise
    with the default special tokens), so the model sees exactly one."""
    if not getattr(tokenizer, "chat_template", None):
        raise ValueError("merging.hma.prompts.chat_template is true, but theta's tokenizer "
                         "has no chat template")
    bos = tokenizer.bos_token
    adds_bos = bos is not None and tokenizer("x")["input_ids"][:1] == [tokenizer.bos_token_id]
    out = []
    for prompt in prompts:
        text = tokenizer.apply_chat_template([{"role": "user", "content": prompt}],
                                             tokenize=False, add_generation_prompt=True)
        if adds_bos and text.startswith(bos):
            text = text[len(bos):]
        out.append(text)
    return out
