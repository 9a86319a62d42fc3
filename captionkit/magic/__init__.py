"""Magic prompt: expand a plain idea into a verified Ideogram 4 caption.

Backends (registry keys compatible with the official ``MAGIC_PROMPTS``):
``ideogram-4-v1`` (Ideogram's hosted endpoint, the default), ``claude-opus-v1`` and
``claude-sonnet-v1`` (OpenRouter), and ``openai-compatible`` (any chat-completions server).

Every reply goes through the same repair loop: extraction (fences, prose, ``<think>``,
double-encoded JSON), the ``aspect_ratio`` echo moved to metadata, boxes stripped unless kept,
:func:`captionkit.fix`'s safe fixes, verification, and, for LLM backends, a bounded number of
re-asks that quote the remaining problems. The result is an :class:`ExpandResult`; a reply
that cannot be repaired raises a :class:`~captionkit.magic.errors.CaptionRepairError`.

The other way round, :func:`describe` (and :class:`DescribeClient`, :func:`describe_many`,
:func:`describe_dataset`) writes a verified caption for an existing image.

>>> from captionkit.magic import BACKENDS, DEFAULT_BACKEND, resolve_aspect
>>> DEFAULT_BACKEND, sorted(BACKENDS)
('ideogram-4-v1', ['claude-opus-v1', 'claude-sonnet-v1', 'ideogram-4-v1', 'openai-compatible'])
>>> resolve_aspect("1920x1088", snap=True).wire
'16x9'
"""

from __future__ import annotations

from captionkit.magic import errors
from captionkit.magic._aspect import HOSTED_BUCKETS, AspectRatio, parse_aspect, resolve_aspect
from captionkit.magic._backends import BACKENDS, DEFAULT_BACKEND, Backend, get_backend
from captionkit.magic._client import (
    AsyncMagicPromptClient,
    MagicPromptClient,
    aexpand,
    expand,
    expand_many,
    resolve_api_key,
)
from captionkit.magic._core import DEFAULT_DEADLINE, DEFAULT_TIMEOUT, RetryPolicy
from captionkit.magic._describe import (
    DESCRIBE_BACKENDS,
    DESCRIBE_PROMPT,
    AsyncDescribeClient,
    DescribeClient,
    DescribeItem,
    DescribeResult,
    ImageInput,
    adescribe,
    describe,
    describe_many,
    load_image,
)
from captionkit.magic._describe_dataset import DatasetReport, adescribe_dataset, describe_dataset
from captionkit.magic._local import LOCAL_BACKEND, LocalMagicPrompt, expand_local
from captionkit.magic._prompt import DEFAULT_PROMPT, PromptFile, load_prompt, packaged_prompts
from captionkit.magic._result import BatchItem, ExpandResult
from captionkit.magic._secrets import Secret
from captionkit.magic.errors import (
    APIConnectionError,
    APIError,
    APIKeyWarning,
    APIStatusError,
    APITimeoutError,
    CaptionParseError,
    CaptionRepairError,
    CaptionTruncatedError,
    CaptionVerificationError,
    InvalidAPIKeyError,
    MagicPromptError,
    MissingAPIKeyError,
    RateLimitError,
)

__all__ = [
    "LOCAL_BACKEND",
    "LocalMagicPrompt",
    "expand_local",
    "AsyncDescribeClient",
    "DESCRIBE_BACKENDS",
    "DESCRIBE_PROMPT",
    "DatasetReport",
    "DescribeClient",
    "DescribeItem",
    "DescribeResult",
    "ImageInput",
    "adescribe",
    "adescribe_dataset",
    "describe",
    "describe_dataset",
    "describe_many",
    "load_image",
    "APIConnectionError",
    "APIError",
    "APIKeyWarning",
    "APIStatusError",
    "APITimeoutError",
    "AspectRatio",
    "AsyncMagicPromptClient",
    "BACKENDS",
    "Backend",
    "BatchItem",
    "CaptionParseError",
    "CaptionRepairError",
    "CaptionTruncatedError",
    "CaptionVerificationError",
    "DEFAULT_BACKEND",
    "DEFAULT_DEADLINE",
    "DEFAULT_PROMPT",
    "DEFAULT_TIMEOUT",
    "ExpandResult",
    "HOSTED_BUCKETS",
    "InvalidAPIKeyError",
    "MagicPromptClient",
    "MagicPromptError",
    "MissingAPIKeyError",
    "PromptFile",
    "RateLimitError",
    "RetryPolicy",
    "Secret",
    "aexpand",
    "errors",
    "expand",
    "expand_many",
    "get_backend",
    "load_prompt",
    "packaged_prompts",
    "parse_aspect",
    "resolve_aspect",
    "resolve_api_key",
]
