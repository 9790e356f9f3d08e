"""The artifacts' record behind `ARTIFACTS_ROOT`: the local folder, or S3-compatible object
storage with a local cache (`core/contracts/storage.py` is the contract)."""

from model_trainer.infra.storage.current import open_storage, storage, use_storage
from model_trainer.infra.storage.local import LocalFolder

__all__ = ["LocalFolder", "open_storage", "storage", "use_storage"]
