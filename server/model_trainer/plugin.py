"""What a plugin package imports: the contracts, their values and the helpers built-ins use.

Plugins should import from here rather than from the layers behind it, which may move. A
model family's untyped `torch`/`transformers` calls have typed helpers in
`model_trainer.plugin_hf` (kept apart so that importing this module does not import
`transformers`).
"""

from __future__ import annotations

from model_trainer.core.contracts.model import (
    Architecture,
    LanguageModel,
    ModelBackend,
    SpecialTokens,
)
from model_trainer.core.contracts.tokenizer import (
    HandleMethods,
    TokenizerArtifact,
    TokenizerBackend,
    TokenizerConfig,
    TokenizerHandle,
    TokenizerInfo,
    TokenizerTrainRequest,
)
from model_trainer.core.errors import AppError, ErrorCode
from model_trainer.core.json_types import JsonObject, JsonValue
from model_trainer.infra.atomic import make_readable, move_into_place, write_json
from model_trainer.tokenizers.hf_export import (
    TOKENIZER_CONFIG,
    NoOptions,
    export_tokenizer_json,
    write_tokenizer_config,
)
from model_trainer.tokenizers.hf_handle import TOKENIZER_JSON, HfTokenizerHandle

__all__ = [
    "TOKENIZER_CONFIG",
    "TOKENIZER_JSON",
    "AppError",
    "Architecture",
    "ErrorCode",
    "HandleMethods",
    "HfTokenizerHandle",
    "JsonObject",
    "JsonValue",
    "LanguageModel",
    "ModelBackend",
    "NoOptions",
    "SpecialTokens",
    "TokenizerArtifact",
    "TokenizerBackend",
    "TokenizerConfig",
    "TokenizerHandle",
    "TokenizerInfo",
    "TokenizerTrainRequest",
    "export_tokenizer_json",
    "make_readable",
    "move_into_place",
    "write_json",
    "write_tokenizer_config",
]
