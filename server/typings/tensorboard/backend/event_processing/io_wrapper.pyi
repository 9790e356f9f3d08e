# How TensorBoard finds its runs under a log directory, as far as the tests use it.
from collections.abc import Iterable

def GetLogdirSubdirectories(path: str) -> Iterable[str]: ...
