"""What a plugin package imports: the contracts, their values and the helpers built-ins use.

Plugins should import from here rather than from the layers behind it, which may move; the
built-in ones (`model_trainer.plugins`) import nothing else of the package. What they share:

- `save_tokenizer_json(tokenizer, out_dir)`: a trained `tokenizers.Tokenizer` saved as
  `tokenizer.json` under a temporary name and renamed; returns the `TokenizerArtifact`.
- `HfTokenizerHandle.from_dir(dir, unk_token)`: the handle of such a `tokenizer.json`.
- `export_tokenizer_json(dir, out_dir, max_len, specials)` and `write_tokenizer_config`:
  the files `AutoTokenizer` loads.
- `iter_text_batches(path)`: a corpus file's lines in batches; `Log(name)`: structured log
  lines like the rest of the service's; `move_into_place`, `make_readable`, `write_json`.

A model family's untyped `torch`/`transformers` calls, its `LanguageModel` wrapper
(`HfCausalLM`) and its export (`save_pretrained`) have typed helpers in
`model_trainer.plugin_hf` (kept apart so that importing this module does not import
`transformers`).
"""

from __future__ import annotations

from model_trainer.core.contracts.model import (
    Architecture,
    CachedDecoding,
    FineTunable,
    KeyValues,
    LanguageModel,
    ModelBackend,
    ModelSize,
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
from model_trainer.core.logging import Log
from model_trainer.infra.atomic import make_readable, move_into_place, write_json
from model_trainer.tokenizers.corpus import iter_text_batches
from model_trainer.tokenizers.hf_export import (
    TOKENIZER_CONFIG,
    NoOptions,
    export_tokenizer_json,
    save_tokenizer_json,
    write_tokenizer_config,
)
from model_trainer.tokenizers.hf_handle import TOKENIZER_JSON, HfTokenizerHandle

__all__ = [
    "TOKENIZER_CONFIG",
    "TOKENIZER_JSON",
    "AppError",
    "Architecture",
    "CachedDecoding",
    "ErrorCode",
    "FineTunable",
    "HandleMethods",
    "HfTokenizerHandle",
    "JsonObject",
    "JsonValue",
    "KeyValues",
    "LanguageModel",
    "Log",
    "ModelBackend",
    "ModelSize",
    "NoOptions",
    "SpecialTokens",
    "TokenizerArtifact",
    "TokenizerBackend",
    "TokenizerConfig",
    "TokenizerHandle",
    "TokenizerInfo",
    "TokenizerTrainRequest",
    "export_tokenizer_json",
    "iter_text_batches",
    "make_readable",
    "move_into_place",
    "save_tokenizer_json",
    "write_json",
    "write_tokenizer_config",
]
