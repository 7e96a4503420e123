"""A local GGUF file as the base model (base_model.source: gguf; alignment_tax.gguf_model).

The GGUF file is written here with the gguf package's GGUFWriter: a tiny LLaMA (2 layers,
hidden 32) with a byte-level BPE vocabulary of 260 tokens, its matrices quantized to Q8_0
and its norms in float32, so nothing is downloaded and the de-quantization is exercised.
"""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
gguf = pytest.importorskip("gguf")
np = pytest.importorskip("numpy")

from alignment_tax.config_checks import ConfigError, check_config  # noqa: E402
from alignment_tax.gguf_model import check_gguf_file, convert_gguf, load_gguf  # noqa: E402
from conftest import load_config, run_snakemake  # noqa: E402

HIDDEN, LAYERS, HEADS, FFN, CONTEXT = 32, 2, 2, 64, 64
MERGES = ["Ġ t", "h e", "Ġt he", "Ġ a", "i n"]
TEXT = "the cat sat in the hat and then the end"


def byte_level_tokens() -> list[str]:
    """The 256 byte symbols of byte-level BPE, the merged tokens, then an end token."""
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    symbols = list(bytes_to_unicode().values())
    return symbols + ["".join(m.split(" ")) for m in MERGES] + ["<|endoftext|>"]


def write_tiny_gguf(path: Path, seed: int = 0) -> Path:
    """A tiny llama GGUF file: Q8_0 matrices, float32 norms, a byte-level BPE tokenizer."""
    rng = np.random.default_rng(seed)
    tokens = byte_level_tokens()
    vocab = len(tokens)
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("tiny-test-llama")
    writer.add_context_length(CONTEXT)
    writer.add_embedding_length(HIDDEN)
    writer.add_block_count(LAYERS)
    writer.add_feed_forward_length(FFN)
    writer.add_head_count(HEADS)
    writer.add_head_count_kv(HEADS)
    writer.add_rope_dimension_count(HIDDEN // HEADS)
    writer.add_rope_freq_base(10000.0)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_vocab_size(vocab)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_Q8_0)
    writer.add_tokenizer_model("gpt2")
    writer.add_token_list(tokens)
    writer.add_token_types([1] * (vocab - 1) + [3])  # 1 normal, 3 control
    writer.add_token_merges(MERGES)
    writer.add_bos_token_id(vocab - 1)
    writer.add_eos_token_id(vocab - 1)

    def matrix(name, rows, cols):
        data = (rng.standard_normal((rows, cols)) * 0.1).astype(np.float32)
        quantized = gguf.quants.quantize(data, gguf.GGMLQuantizationType.Q8_0)
        writer.add_tensor(
            name, quantized, raw_shape=quantized.shape, raw_dtype=gguf.GGMLQuantizationType.Q8_0
        )

    def norm(name):
        writer.add_tensor(name, (1 + 0.1 * rng.standard_normal(HIDDEN)).astype(np.float32))

    matrix("token_embd.weight", vocab, HIDDEN)
    for i in range(LAYERS):
        norm(f"blk.{i}.attn_norm.weight")
        for part in ("attn_q", "attn_k", "attn_v", "attn_output"):
            matrix(f"blk.{i}.{part}.weight", HIDDEN, HIDDEN)
        norm(f"blk.{i}.ffn_norm.weight")
        matrix(f"blk.{i}.ffn_gate.weight", FFN, HIDDEN)
        matrix(f"blk.{i}.ffn_up.weight", FFN, HIDDEN)
        matrix(f"blk.{i}.ffn_down.weight", HIDDEN, FFN)
    norm("output_norm.weight")
    matrix("output.weight", vocab, HIDDEN)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


@pytest.fixture(scope="module")
def tiny_gguf(tmp_path_factory) -> Path:
    return write_tiny_gguf(tmp_path_factory.mktemp("gguf") / "tiny.Q8_0.gguf")


def test_converted_checkpoint_has_the_gguf_models_logits(tiny_gguf, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = tmp_path / "base"
    summary = convert_gguf(tiny_gguf, out)
    assert summary["num_hidden_layers"] == LAYERS and summary["vocab_size"] == len(
        byte_level_tokens()
    )
    assert (out / "model.safetensors").is_file() and (out / "tokenizer.json").is_file()
    assert not list(out.glob("*.gguf")) and not list(out.glob("*.bin"))

    reference, gguf_tokenizer = load_gguf(tiny_gguf)
    model = AutoModelForCausalLM.from_pretrained(out, use_safetensors=True)
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert not hasattr(model.config, "quantization_config")
    ids = tokenizer(TEXT, return_tensors="pt")["input_ids"]
    assert ids.tolist() == gguf_tokenizer(TEXT, return_tensors="pt")["input_ids"].tolist()
    assert len(ids[0]) < len(TEXT.encode()), "the merges are used"
    with torch.no_grad():
        expected = reference(ids).logits
        got = model(ids).logits
    # the same float32 weights and the same code: equal up to kernel rounding
    assert torch.allclose(got, expected, atol=1e-5, rtol=0), (got - expected).abs().max()
    # the de-quantized Q8_0 weights, not the float32 ones they were made from
    gate = model.model.layers[0].mlp.gate_proj.weight
    assert len(torch.unique(gate[0])) <= 256


def test_missing_or_foreign_gguf_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"base_model\.gguf_file.*missing\.gguf"):
        check_gguf_file(tmp_path / "missing.gguf")
    fake = tmp_path / "model.gguf"
    fake.write_bytes(b"PK\x03\x04 not a gguf file")
    with pytest.raises(ValueError, match=r"base_model\.gguf_file.*model\.gguf.*not a GGUF file"):
        convert_gguf(fake, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def _gguf_config(path) -> dict:
    config = load_config("paper")
    config["base_model"] = {
        **config["base_model"],
        "source": "gguf",
        "hub_id": None,
        "gguf_file": str(path),
    }
    return config


def test_config_checks_name_the_gguf_file(tiny_gguf, tmp_path):
    check_config(_gguf_config(tiny_gguf))
    with pytest.raises(ConfigError, match=r"base_model\.gguf_file.*does not exist"):
        check_config(_gguf_config(tmp_path / "missing.gguf"))
    fake = tmp_path / "x.gguf"
    fake.write_text("hello")
    with pytest.raises(ConfigError, match=r"base_model\.gguf_file.*not a GGUF file"):
        check_config(_gguf_config(fake))
    config = _gguf_config(tiny_gguf)
    del config["base_model"]["gguf_file"]
    with pytest.raises(ConfigError, match=r"base_model\.gguf_file.*required"):
        check_config(config)


def test_dry_run_converts_the_gguf_file_into_models_base(tiny_gguf, tmp_path):
    import yaml

    config = _gguf_config(tiny_gguf)
    config_file = tmp_path / "gguf.yaml"
    config_file.write_text(yaml.safe_dump(config))
    target = f"results/{config['run_name']}/models/sft"
    result = run_snakemake("-n", target, "--configfile", str(config_file))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "convert_gguf_base_model" in result.stdout + result.stderr
    assert "fetch_base_model" not in result.stdout + result.stderr


def test_gguf_file_is_relative_to_the_workflow_root(tiny_gguf, tmp_path):
    """A relative base_model.gguf_file names a file under the workflow root, also when the
    working directory is another folder (snakemake -d): the config check finds it and the
    conversion job reads it from there."""
    import os

    import yaml
    from conftest import REPO

    config = _gguf_config(os.path.relpath(tiny_gguf, REPO))
    config_file = tmp_path / "gguf.yaml"
    config_file.write_text(yaml.safe_dump(config))
    workdir = tmp_path / "work"
    workdir.mkdir()
    target = f"results/{config['run_name']}/models/base"
    args = ["-s", str(REPO / "Snakefile"), "-d", str(workdir), "-n", target]
    result = run_snakemake(*args, "--configfile", str(config_file))
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-3000:]
    assert f"input: {tiny_gguf}" in out
