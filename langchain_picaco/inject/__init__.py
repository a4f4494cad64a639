"""Putting a meta-instruction to work: the Runnable for any chain and the agent middleware.

``merge`` (how the instruction joins a prompt's messages), ``runnable`` (:class:`PicacoRunnable`),
``middleware`` (:class:`PicacoMiddleware`, needs the ``agents`` extra; built on first use).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from langchain_picaco._lazy import lazy_attributes

__all__ = ["PicacoMiddleware", "PicacoRunnable", "to_messages", "with_meta_instruction"]

__getattr__, __dir__ = lazy_attributes(
    __name__,
    {
        "PicacoRunnable": "langchain_picaco.inject.runnable",
        "to_messages": "langchain_picaco.inject.runnable",
        "with_meta_instruction": "langchain_picaco.inject.runnable",
        "PicacoMiddleware": "langchain_picaco.inject.middleware",
    },
)

if TYPE_CHECKING:
    from langchain_picaco.inject.middleware import PicacoMiddleware
    from langchain_picaco.inject.runnable import PicacoRunnable, to_messages, with_meta_instruction
