"""Tokenizer plugins: discovered through the `model_trainer.tokenizers` entry-point group.

Entry-point objects are untyped until checked, so this module is exempt from
`disallow_any_expr` in pyproject; every plugin is checked against the contract on load.
"""

from __future__ import annotations

from importlib.metadata import entry_points

from model_trainer.core.contracts.tokenizer import TokenizerBackend, TokenizerMethod
from model_trainer.core.errors import AppError, ErrorCode
from model_trainer.core.logging import Log

ENTRY_POINT_GROUP = "model_trainer.tokenizers"

_log = Log("tokenizer")


def discover_backends() -> list[TokenizerBackend]:
    """Load every installed tokenizer plugin, once per name; a broken one is named."""
    backends: list[TokenizerBackend] = []
    seen: set[str] = set()
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in seen:
            continue
        seen.add(ep.name)
        try:
            backend = ep.load()()
        except Exception as exc:
            _log.exception("tokenizer_plugin_broken", plugin=ep.name)
            raise AppError(ErrorCode.PLUGIN_BROKEN, f"tokenizer plugin '{ep.name}': {exc}") from exc
        if not isinstance(backend, TokenizerBackend):
            raise AppError(
                ErrorCode.PLUGIN_BROKEN, f"tokenizer plugin '{ep.name}' does not fit the contract"
            )
        backends.append(backend)
    return backends


class TokenizerRegistry:
    """Maps each tokenizer method to the backend that implements it."""

    def __init__(self, backends: list[TokenizerBackend]) -> None:
        self._by_method: dict[TokenizerMethod, TokenizerBackend] = {}
        for backend in backends:
            for method in backend.supported_methods():
                self._by_method.setdefault(method, backend)

    def methods(self) -> list[TokenizerMethod]:
        return sorted(self._by_method)

    def get(self, method: TokenizerMethod) -> TokenizerBackend:
        try:
            return self._by_method[method]
        except KeyError:
            raise AppError(
                ErrorCode.UNKNOWN_BACKEND, f"no tokenizer backend for method '{method}'"
            ) from None
