# Types for the part of `datasets` the tests call to write real `save_to_disk` folders; the
# package ships no py.typed marker, and the server never imports it.

from collections.abc import Mapping, Sequence

class Dataset:
    @classmethod
    def from_dict(cls, mapping: Mapping[str, Sequence[object]]) -> Dataset: ...
    def save_to_disk(self, dataset_path: str) -> None: ...

class DatasetDict(dict[str, Dataset]):
    def save_to_disk(self, dataset_dict_path: str) -> None: ...
