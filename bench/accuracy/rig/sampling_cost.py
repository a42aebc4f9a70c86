"""What llama.cpp's CPU sampler costs per sequence and step, for Qwen2.5's vocabulary.

llama-server samples every sequence of a decode step one after another on one core,
through the sampler chain (top-k first, over the whole vocabulary). This times that
chain with llama-cpp-python's bindings on random logits: at N slots, one step costs
about N times the figure printed, whatever the GPU does. Run here (needs the dev
environment's ``llama_cpp``): ``.venv/bin/python bench/accuracy/rig/sampling_cost.py``.
"""

from __future__ import annotations

import ctypes
import time

import llama_cpp as llama
import numpy as np

VOCAB = 151_936  # Qwen2.5's
ROUNDS = 200


def main() -> None:
    chain = llama.llama_sampler_chain_init(llama.llama_sampler_chain_default_params())
    for sampler in (  # llama-server's default chain, less the samplers that are no-ops
        llama.llama_sampler_init_top_k(40),
        llama.llama_sampler_init_top_p(0.95, 1),
        llama.llama_sampler_init_min_p(0.05, 1),
        llama.llama_sampler_init_temp(0.7),
        llama.llama_sampler_init_dist(1),
    ):
        llama.llama_sampler_chain_add(chain, sampler)
    logits = np.random.default_rng(0).normal(0.0, 3.0, VOCAB).astype(np.float32)
    data = (llama.llama_token_data * VOCAB)()
    fields = np.dtype([("id", "<i4"), ("logit", "<f4"), ("p", "<f4")])
    view = np.frombuffer(memoryview(data), dtype=fields)  # the ctypes array, in place
    started = time.perf_counter()
    for _ in range(ROUNDS):
        view["id"] = np.arange(VOCAB, dtype=np.int32)
        view["logit"] = logits
        view["p"] = 0.0
        candidates = llama.llama_token_data_array(data, VOCAB, -1, False)
        llama.llama_sampler_apply(chain, ctypes.byref(candidates))
    per_sample = (time.perf_counter() - started) / ROUNDS
    llama.llama_sampler_free(chain)
    print(
        f"{per_sample * 1e3:.2f} ms per sequence and step; at 128 slots "
        f"{128 * per_sample * 1e3:.0f} ms a step, at most {1 / (128 * per_sample):.1f} steps/s"
    )


if __name__ == "__main__":
    main()
