"""The embedded local model: a GGUF file run in this process by llama.cpp (xllamacpp).

* :func:`local_model_path` assembles and verifies a pinned model: ``"local"``, the 0.5B demo model
  (extra ``demo-model``, also :func:`demo_model_path`), or ``"local-1.5b"``, the 1.5B model (extra
  ``judge-model``); :data:`PINNED_MODELS` describes both.
* :func:`start_local_model` starts (or reuses) a loopback llama.cpp server and returns a
  :class:`ChatLocalLlama`, a ``ChatOpenAI`` pointed at it (extra ``local``).
* :class:`LocalLikelihood` scores given text by teacher forcing; :func:`supports_likelihood` tells
  whether a model can be used with it.

``python -m langchain_picaco.llm.local prepare [--model local|local-1.5b|all]`` assembles the models
(default: every one whose packages are installed) and prints their paths.

Example:
    >>> from langchain_picaco.llm.local import start_local_model
    >>> llm = start_local_model()  # doctest: +SKIP
    >>> llm.invoke("Say hi").content  # doctest: +SKIP
    'Hello! How can I assist you today?'
    >>> judge = start_local_model("local-1.5b")  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from langchain_picaco._lazy import lazy_attributes
from langchain_picaco.llm.local.demo_model import (
    DEMO_MODEL,
    DEMO_MODEL_CHUNK_PACKAGES,
    DEMO_MODEL_CHUNK_VERSION,
    DEMO_MODEL_FILENAME,
    DEMO_MODEL_LICENSE,
    DEMO_MODEL_NAME,
    DEMO_MODEL_PACKAGER,
    DEMO_MODEL_SHA256,
    DEMO_MODEL_SIZE,
    DEMO_MODEL_UPSTREAM,
    JUDGE_MODEL,
    PINNED_MODELS,
    ModelFileError,
    PinnedModel,
    chunks_installed,
    default_cache_dir,
    demo_model_path,
    local_model_path,
    pinned_model,
    verify_model_file,
)

# Imported eagerly (it is light: xllamacpp loads only when a server starts) because importing it
# sets OMP_WAIT_POLICY before anything can load the OpenMP runtime; see server.py.
from langchain_picaco.llm.local.server import LocalServer, shutdown_all

if TYPE_CHECKING:
    from langchain_picaco.llm.local.chat import ChatLocalLlama, start_local_model
    from langchain_picaco.llm.local.likelihood import LocalLikelihood, supports_likelihood

__all__ = [
    "DEMO_MODEL",
    "DEMO_MODEL_CHUNK_PACKAGES",
    "DEMO_MODEL_CHUNK_VERSION",
    "DEMO_MODEL_FILENAME",
    "DEMO_MODEL_LICENSE",
    "DEMO_MODEL_NAME",
    "DEMO_MODEL_PACKAGER",
    "DEMO_MODEL_SHA256",
    "DEMO_MODEL_SIZE",
    "DEMO_MODEL_UPSTREAM",
    "JUDGE_MODEL",
    "PINNED_MODELS",
    "ChatLocalLlama",
    "LocalLikelihood",
    "LocalServer",
    "ModelFileError",
    "PinnedModel",
    "chunks_installed",
    "default_cache_dir",
    "demo_model_path",
    "local_model_path",
    "pinned_model",
    "shutdown_all",
    "start_local_model",
    "supports_likelihood",
    "verify_model_file",
]

# Names that need the "local" extra are imported on first use, so the demo-model helpers work
# without xllamacpp or langchain-openai installed.
_LAZY_NAMES = {
    "ChatLocalLlama": "langchain_picaco.llm.local.chat",
    "start_local_model": "langchain_picaco.llm.local.chat",
    "LocalLikelihood": "langchain_picaco.llm.local.likelihood",
    "supports_likelihood": "langchain_picaco.llm.local.likelihood",
}


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY_NAMES)
