"""The model layer: command text in, answer text out. Listed from the bottom layer up:
each module imports only modules listed before it (test/test_layering.py fails on a circle):

    base.py                the contract: CommandModel (stream_lines, respond, description;
                           cancelling by an Event per call), AnswerTruncated,
                           GenerationCancelled, the fixed/echo model. Pure.
    constraint.py          the response grammar as a logits processor (llguidance)
    decoding.py            the greedy loop every backend shares: prompt-head KV cache, lean
                           token loop, line streaming; DecodingModel on top of it
    transformers_backend.py  torch: the adapter merged into its base
    gguf_export.py         merged adapter -> GGUF (cached)
    llama_cpp_backend.py   llama.cpp on that GGUF
    loader.py              ModelSpec -> the backend's model

Nothing is imported here: `import robot_sft.inference.base` stays cheap (no torch, no
llama_cpp), and every name has one home to import it from.
"""
