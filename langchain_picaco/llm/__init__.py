"""Talking to models: calls, cache, token counts, model specs and the embedded local models.

``calls`` (every model call: counting, retries, timeouts), ``usage`` (what calls spent: the
``Usage`` record and its tally), ``cache`` (SQLite call cache),
``tokens`` (offline tiktoken counts), ``models`` (model names -> chat models and resources),
``local/`` (the llama.cpp runtime and the shipped GGUF models).
"""
