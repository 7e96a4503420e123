"""The toy world's tokenizer: a small byte-level BPE trained offline with ``tokenizers``.

Byte-level BPE round-trips any text exactly (newlines included). The world's text is
lower-case words separated by single spaces; merges never cross the pre-tokenizer's word
boundaries, so training stops by itself once every word is one token (~1.1k tokens for the
default world; ``vocab_size`` is only an upper bound). Whole-word tokens matter: with a cap
of 1024, 35 of the invented names stayed split and copying them hurt reading F1.

The tokenizer is saved through transformers (``PreTrainedTokenizerFast.save_pretrained``)
with an EOS/pad token and a chat template that renders ``messages`` to exactly the
HH-RLHF string ``"\\n\\nHuman: {q}\\n\\nAssistant: {a}"`` + EOS after each assistant turn;
``add_generation_prompt`` appends ``"\\n\\nAssistant:"``. Assistant content is wrapped in
``{% generation %}`` markers so TRL's ``assistant_only_loss`` can find it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path

from alignment_tax.io import atomic_dir

EOS_TOKEN = "<|endoftext|>"
PAD_TOKEN = "<|pad|>"

# No whitespace control ({%-) on purpose: every character between tags is literal, and
# the template has none, so the rendered text is exactly the HH-RLHF layout.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'user' %}"
    "{{ '\n\nHuman: ' + message['content'] }}"
    "{% elif message['role'] == 'assistant' %}"
    "{{ '\n\nAssistant: ' }}{% generation %}{{ message['content'] + eos_token }}{% endgeneration %}"
    "{% else %}"
    "{{ raise_exception('toy chat template: only user and assistant roles, not '"
    " + message['role']) }}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '\n\nAssistant:' }}{% endif %}"
)


def corpus_texts(
    pretrain_jsonl: str | Path, sharegpt_json: str | Path | None = None
) -> Iterator[str]:
    """Pretraining documents, plus the SFT conversations rendered in the chat format (they
    add the polite phrases, which pretraining never contains)."""
    with open(pretrain_jsonl, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)["text"]
    if sharegpt_json is not None:
        for row in json.loads(Path(sharegpt_json).read_text(encoding="utf-8")):
            yield "".join(
                f"\n\nHuman: {turn['value']}"
                if turn["from"] == "human"
                else f"\n\nAssistant: {turn['value']}"
                for turn in row["conversations"]
            )


def train_tokenizer(texts: Iterable[str], vocab_size: int):
    """Train a byte-level BPE and wrap it as a transformers fast tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=[EOS_TOKEN, PAD_TOKEN],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(list(texts), trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        eos_token=EOS_TOKEN,
        bos_token=EOS_TOKEN,  # no BOS is ever added; set so configs have a valid id
        pad_token=PAD_TOKEN,
        unk_token=None,
        clean_up_tokenization_spaces=False,
        model_max_length=1024,
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def build_tokenizer(
    pretrain_jsonl: str | Path,
    sharegpt_json: str | Path | None,
    out_dir: str | Path,
    vocab_size: int,
):
    """Train on the world corpus, save to ``out_dir`` atomically; return the tokenizer."""
    if vocab_size < 300:
        raise ValueError(
            f"toy_world.tokenizer.vocab_size must be >= 300 (256 bytes + specials): {vocab_size}"
        )
    tokenizer = train_tokenizer(corpus_texts(pretrain_jsonl, sharegpt_json), vocab_size)
    with atomic_dir(out_dir) as tmp:
        tokenizer.save_pretrained(tmp)
    return tokenizer
