#!/usr/bin/env python3
"""Writes a tiny llama-architecture GGUF model with random weights, for llama-server in tests.

The tokenizer is copied from llama.cpp's own test vocabulary (models/ggml-vocab-llama-spm.gguf in
the llama.cpp source); the weights come from a seeded generator, so a seed is a model "version"
and the same seed always writes the same file. The output is gibberish, which a gateway does not
mind. Needs numpy, pyyaml and llama.cpp's gguf-py on PYTHONPATH (scripts/install-model-servers.sh).

  make-gguf.py --vocab SRC/models/ggml-vocab-llama-spm.gguf --seed 1 --out tiny-v1.gguf
  make-gguf.py ... --embd 2048 --layers 12 --ff 4096   # a big one that takes seconds to load
"""
import argparse

import numpy as np
from gguf import GGUFReader, GGUFValueType, GGUFWriter

p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
p.add_argument("--vocab", required=True, help="a GGUF file whose tokenizer.* keys are copied")
p.add_argument("--out", required=True)
p.add_argument("--seed", type=int, required=True)
p.add_argument("--name", default=None, help="general.name (default: the output's base name)")
p.add_argument("--embd", type=int, default=64)
p.add_argument("--layers", type=int, default=2)
p.add_argument("--ff", type=int, default=128)
p.add_argument("--heads", type=int, default=4)
p.add_argument("--ctx", type=int, default=2048)
a = p.parse_args()

vocab = GGUFReader(a.vocab)
w = GGUFWriter(a.out, "llama")
w.add_name(a.name or a.out.rsplit("/", 1)[-1].removesuffix(".gguf"))
w.add_context_length(a.ctx)
w.add_embedding_length(a.embd)
w.add_block_count(a.layers)
w.add_feed_forward_length(a.ff)
w.add_head_count(a.heads)
w.add_head_count_kv(a.heads)
w.add_rope_dimension_count(a.embd // a.heads)
w.add_layer_norm_rms_eps(1e-5)
w.add_file_type(0)  # all F32
n_vocab = 0
for field in vocab.fields.values():
    if not field.name.startswith("tokenizer."):
        continue
    main = field.types[0]
    sub = field.types[-1] if main == GGUFValueType.ARRAY else None
    w.add_key_value(field.name, field.contents(), main, sub)
    if field.name == "tokenizer.ggml.tokens":
        n_vocab = len(field.data)

rng = np.random.default_rng(a.seed)


def weights(*shape):
    return (rng.standard_normal(shape, dtype=np.float32) * 0.02).astype(np.float32)


# numpy shapes are ggml's dimensions reversed: token_embd is ne {n_embd, n_vocab}.
w.add_tensor("token_embd.weight", weights(n_vocab, a.embd))
for i in range(a.layers):
    w.add_tensor(f"blk.{i}.attn_norm.weight", np.ones(a.embd, dtype=np.float32))
    for t in ("attn_q", "attn_k", "attn_v", "attn_output"):
        w.add_tensor(f"blk.{i}.{t}.weight", weights(a.embd, a.embd))
    w.add_tensor(f"blk.{i}.ffn_norm.weight", np.ones(a.embd, dtype=np.float32))
    w.add_tensor(f"blk.{i}.ffn_gate.weight", weights(a.ff, a.embd))
    w.add_tensor(f"blk.{i}.ffn_up.weight", weights(a.ff, a.embd))
    w.add_tensor(f"blk.{i}.ffn_down.weight", weights(a.embd, a.ff))
w.add_tensor("output_norm.weight", np.ones(a.embd, dtype=np.float32))
w.add_tensor("output.weight", weights(n_vocab, a.embd))

w.write_header_to_file()
w.write_kv_data_to_file()
w.write_tensors_to_file()
w.close()
