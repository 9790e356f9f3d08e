# Types for the part of `pyarrow.ipc` we call.

from typing import BinaryIO

from pyarrow import MemoryMappedFile, RecordBatchStreamReader

def open_stream(source: BinaryIO | MemoryMappedFile) -> RecordBatchStreamReader: ...
