"""Two patches of TRL 1.x internals that make CPU steps faster without changing results.

Both replace a module attribute that TRL looks up at call time, are idempotent (marked
with a `robot_sft` attribute) and are applied by train.build_run only where they pay:
`project_labelled_positions_only` with an assistant-only loss, `bf16_lm_head_gradient_on_cpu`
on a CPU in bf16. test_train.py checks each against TRL's own path.
"""
from __future__ import annotations


def project_labelled_positions_only() -> None:
    """Compute logits only where there is a label.

    TRL's fused LM head projects hidden states onto the vocabulary only at positions
    with a label when it runs on CUDA/XPU, and at every position elsewhere (a fixed
    shape avoids recompilation on Neuron). On CPU with an assistant-only loss ~80 % of
    positions have no label, and the 576 x 49152 projection is ~20 % of a step, so
    projecting only labelled positions makes CPU steps ~15 % faster with the same
    loss and gradients (test_train.py checks this). TRL picks the path with
    `trl.trainer.utils._use_triton(device)`; the torch kernel handles both shapes.
    """
    import trl.trainer.utils as trl_utils

    if getattr(trl_utils, "_use_triton", None) is not None and \
            not getattr(trl_utils._use_triton, "robot_sft", False):
        def compact_everywhere(device) -> bool:
            return True

        compact_everywhere.robot_sft = True
        trl_utils._use_triton = compact_everywhere


def bf16_lm_head_gradient_on_cpu() -> None:
    """Let the LM head's backward GEMM run in bf16 on a CPU.

    TRL's chunked log-prob kernel sums the hidden-state gradient over vocabulary chunks
    with `_addmm_fp32`, which on CUDA is a bf16 GEMM with an fp32 output and elsewhere
    upcasts both operands (the 49152 x 576 head included) and runs an fp32 GEMM: on an
    AVX512-BF16 CPU that was ~12 % of a bf16 step. Here the GEMM runs in bf16 (fp32
    accumulation inside oneDNN) and each chunk's product is added to the fp32 sum: one
    rounding per chunk (two for SmolLM2's vocabulary), as plain autocast rounds the whole
    product once. test_train.py checks the gradients against the upcast path.
    """
    import torch
    import trl.kernels.chunked_logprob as kernel

    upcast = kernel._addmm_fp32
    if getattr(upcast, "robot_sft", False):
        return

    def addmm_fp32(acc, a, b) -> None:
        if acc.device.type == "cpu" and a.dtype == b.dtype == torch.bfloat16:
            acc.add_(torch.mm(a, b))
        else:
            upcast(acc, a, b)

    addmm_fp32.robot_sft = True
    kernel._addmm_fp32 = addmm_fp32
