"""Walking and resolving under a root: symlink loops are clear errors, archives stream, names
that are not UTF-8 and trees too deep are skipped and said so."""

from __future__ import annotations

import io
import os
import tarfile
import tracemalloc
from pathlib import Path

import pytest

from model_trainer.core.errors import AppError, ErrorCode
from model_trainer.infra.paths import (
    MAX_FOLDER_DEPTH,
    TOO_DEEP,
    TOO_LONG,
    Skipped,
    corpus_files,
    corpus_walk,
    display_path,
    plain_path,
    printable,
    resolve_inside,
)
from model_trainer.jobs.layout import ArtifactLayout
from model_trainer.orchestrators.artifacts import CHUNK_BYTES, ArtifactKind, ArtifactStore
from model_trainer.orchestrators.corpus import CorpusCatalog, CorpusEntryKind


def _plant_loops(root: Path) -> None:
    """A self loop, a directory cycle, and two files pointing at each other."""
    (root / "loop").symlink_to("loop")
    (root / "d").mkdir()
    (root / "d" / "sub").symlink_to("..")
    (root / "p.txt").symlink_to("q.txt")
    (root / "q.txt").symlink_to("p.txt")


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture()
def corpus(tmp_path: Path) -> Path:
    root = tmp_path / "corpus"
    (root / "real").mkdir(parents=True)
    (root / "real" / "one.txt").write_text("one\n")
    (root / "alias.txt").symlink_to("real/one.txt")
    (root / "linked").symlink_to("real")
    (tmp_path / "outside.txt").write_text("secret\n")
    (root / "out.txt").symlink_to(tmp_path / "outside.txt")
    _plant_loops(root)
    return root


def test_loops_in_a_corpus_are_bad_input_not_crashes(corpus: Path) -> None:
    for name in ["loop", "loop/x.txt", "p.txt", "q.txt", "d/sub/loop"]:
        with pytest.raises(AppError) as caught:
            resolve_inside(corpus, name, "corpus_path")
        assert caught.value.code is ErrorCode.DATA_INVALID, name
        assert "loop" in caught.value.message and str(corpus) not in caught.value.message
    # A cycle whose target stays inside the root still names a real place.
    assert resolve_inside(corpus, "d/sub/d/sub/real", "p") == (corpus / "real").resolve()


def test_corpus_walk_skips_loops_and_links_out(corpus: Path) -> None:
    # In-root file links keep working; directory links are not walked, so nothing repeats.
    assert corpus_files(corpus, ".") == [corpus / "alias.txt", corpus / "real" / "one.txt"]
    assert corpus_files(corpus, "linked") == [(corpus / "real" / "one.txt").resolve()]
    with pytest.raises(AppError) as caught:
        corpus_files(corpus, "d")
    assert caught.value.code is ErrorCode.CORPUS_EMPTY


def test_corpus_listing_shows_what_training_reads(corpus: Path) -> None:
    (corpus / ".hidden").mkdir()
    (corpus / ".hidden" / "h.txt").write_text("hidden\n")
    (corpus / "real" / "notes.md").write_text("not a corpus file\n")
    (corpus / "real" / "deeper").mkdir()
    (corpus / "real" / "deeper" / "two.txt").write_text("two two\n")
    catalog = CorpusCatalog(corpus)
    root = catalog.folder(None)
    assert [(e.path, e.kind, e.bytes, e.files) for e in root.entries] == [
        ("d", CorpusEntryKind.FOLDER, 0, 0),
        ("real", CorpusEntryKind.FOLDER, 12, 2),
        ("alias.txt", CorpusEntryKind.FILE, 4, 1),
    ]
    # Every total is what training on the same path reads, no more and no less.
    for folder in (root, catalog.folder("real"), catalog.folder("linked")):
        named = folder.path or "."
        read = corpus_files(corpus, named)
        assert (folder.files, folder.bytes) == (len(read), sum(f.stat().st_size for f in read))
    assert catalog.folder("linked").path == "real"  # named by where training reads it
    assert [e.path for e in catalog.folder("real").entries] == ["real/deeper", "real/one.txt"]
    refusals = {"loop": ErrorCode.DATA_INVALID, "../x": ErrorCode.PATH_OUTSIDE_ROOT}
    refusals |= {"real/one.txt": ErrorCode.DATA_INVALID, "nope": ErrorCode.DATA_NOT_FOUND}
    for path, code in refusals.items():
        with pytest.raises(AppError) as caught:
            catalog.folder(path)
        assert caught.value.code is code, path
    with pytest.raises(AppError) as missing:
        CorpusCatalog(corpus / "gone").folder(None)
    assert missing.value.message == "the corpus root does not exist"


def test_plain_paths_refuse_every_symlink_on_the_way(tmp_path: Path) -> None:
    root = tmp_path / "art"
    (root / "export").mkdir(parents=True)
    (root / "export" / "m.bin").write_bytes(b"m")
    (root / "link").symlink_to("export")
    (root / "m.lnk").symlink_to("export/m.bin")
    _plant_loops(root)
    assert plain_path(root, "export/m.bin", "path") == root / "export" / "m.bin"
    assert plain_path(root, "./export/../export/", "path") == root / "export"
    for hidden in ["link/m.bin", "m.lnk", "loop", "loop/x", "d/sub/export", "p.txt", "nope"]:
        assert plain_path(root, hidden, "path") is None, hidden
    for odd in ["export/m.bin/..", ".git", "export/.tmp"]:
        assert plain_path(root, odd, "path") is None, odd
    for out in ["..", "export/../..", "/etc/passwd"]:
        with pytest.raises(AppError) as caught:
            plain_path(root, out, "path")
        assert caught.value.code is ErrorCode.PATH_OUTSIDE_ROOT, out


def _artifact(tmp_path: Path) -> Path:
    folder = tmp_path / "models" / "run-00000000-00000000"
    (folder / "a").mkdir(parents=True)
    (folder / "a" / "x.bin").write_bytes(bytes(range(256)) * 10_000)
    (folder / "a-b.txt").write_text("dash\n")
    (folder / "b.txt").write_text("b" * 513)
    (folder / "empty").write_bytes(b"")
    (folder / ".hidden").write_text("no\n")
    (folder / "a" / ".tmp").mkdir()
    (folder / "a" / ".tmp" / "part").write_text("no\n")
    (folder / "up").symlink_to("..")
    (folder / "peek").symlink_to(tmp_path)
    (folder / "same.txt").symlink_to("b.txt")
    _plant_loops(folder)
    return folder


def _untar(data: bytes) -> list[tuple[str, bytes]]:
    out: list[tuple[str, bytes]] = []
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        for member in tar.getmembers():
            handle = tar.extractfile(member)
            assert member.isfile() and handle is not None, member.name
            out.append((member.name, handle.read()))
    return out


def test_archive_is_a_tar_of_exactly_the_listed_files(tmp_path: Path) -> None:
    folder = _artifact(tmp_path)
    store = ArtifactStore(ArtifactLayout(tmp_path))
    listed = ["a/x.bin", "a-b.txt", "b.txt", "empty"]
    assert [f.path for f in store.files(ArtifactKind.MODELS, folder.name)] == listed
    data = b"".join(store.archive(folder, "run"))
    # Whole blocks only, closed by the two zero blocks tar expects.
    assert len(data) % tarfile.BLOCKSIZE == 0 and data.endswith(bytes(2 * tarfile.BLOCKSIZE))
    assert _untar(data) == [(f"run/{p}", (folder / p).read_bytes()) for p in listed]


def test_archive_reads_a_file_renamed_over_meanwhile_consistently(tmp_path: Path) -> None:
    folder = tmp_path / "f"
    folder.mkdir()
    (folder / "m.bin").write_bytes(b"old" * 1000)
    chunks = ArtifactStore(ArtifactLayout(tmp_path)).archive(folder, "f")
    header = next(chunks)
    replacement = tmp_path / "new.bin"
    replacement.write_bytes(b"new, and longer" * 1000)
    os.replace(replacement, folder / "m.bin")
    assert _untar(header + b"".join(chunks)) == [("f/m.bin", b"old" * 1000)]


def test_archive_stops_rather_than_send_a_short_member(tmp_path: Path) -> None:
    folder = tmp_path / "f"
    folder.mkdir()
    (folder / "m.bin").write_bytes(b"x" * 5000)
    chunks = ArtifactStore(ArtifactLayout(tmp_path)).archive(folder, "f")
    next(chunks)
    os.truncate(folder / "m.bin", 10)
    with pytest.raises(AppError) as caught:
        b"".join(chunks)
    assert "shrank" in caught.value.message and str(tmp_path) not in caught.value.message


def test_closing_an_archive_midway_releases_its_descriptors(tmp_path: Path) -> None:
    folder = _artifact(tmp_path)
    before = _open_fds()
    chunks = ArtifactStore(ArtifactLayout(tmp_path)).archive(folder, "run")
    next(chunks)
    next(chunks)
    assert _open_fds() > before  # the folder, `a/` and `a/x.bin` are open
    chunks.close()
    assert _open_fds() == before


def test_archive_memory_stays_at_one_chunk(tmp_path: Path) -> None:
    folder = tmp_path / "big"
    folder.mkdir()
    with (folder / "weights.bin").open("wb") as handle:
        handle.truncate(200 * 1024 * 1024)  # sparse: costs no disk
    tracemalloc.start()
    try:
        chunks = ArtifactStore(ArtifactLayout(tmp_path)).archive(folder, "big")
        total = sum(len(chunk) for chunk in chunks)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == 512 + 200 * 1024 * 1024 + 1024
    assert peak < 2 * CHUNK_BYTES + 256 * 1024, peak


def _latin1(folder: Path, name: bytes, text: bytes = b"text\n") -> None:
    """A file whose name is not UTF-8 (as old archives hold), made through a bytes path."""
    with open(os.fsencode(folder) + b"/" + name, "wb") as handle:
        handle.write(text)


def test_names_that_are_not_utf8_are_skipped_and_reported(tmp_path: Path) -> None:
    root = tmp_path / "corpus"
    (root / "mixed").mkdir(parents=True)
    (root / "mixed" / "good.txt").write_text("good\n")
    _latin1(root / "mixed", b"caf\xe9.txt")
    _latin1(root / "mixed", b"caf\xe9.png")  # never read anyway: not reported
    os.mkdir(os.fsencode(root) + b"/d\xe9j\xe0")
    _latin1(root, b"d\xe9j\xe0/inner.txt")
    os.symlink(b"caf\xe9.txt", os.fsencode(root / "mixed") + b"/alias.txt")
    (root / "only").mkdir()
    _latin1(root / "only", b"na\xefve.txt")
    # Training reads the UTF-8 names (a link by its target, shown escaped) ...
    read = corpus_files(root, "mixed")
    assert [f.name for f in read] == ["alias.txt", "good.txt"]
    assert [display_path(f, root) for f in read] == ["mixed/caf\\xe9.txt", "mixed/good.txt"]
    # ... the listing says what it skipped and why, in text JSON can hold ...
    listing = CorpusCatalog(root).folder(None)
    assert [(s.path, s.reason) for s in listing.skipped] == [
        ("d\\xe9j\\xe0", "its name is not valid UTF-8"),
        ("mixed/caf\\xe9.txt", "its name is not valid UTF-8"),
        ("only/na\\xefve.txt", "its name is not valid UTF-8"),
    ]
    assert [e.path for e in listing.entries] == ["mixed", "only"]
    # ... and a folder of such names only is empty, naming what it skipped.
    with pytest.raises(AppError) as caught:
        corpus_files(root, "only")
    assert caught.value.code is ErrorCode.CORPUS_EMPTY
    assert "'only/na\\xefve.txt': its name is not valid UTF-8" in caught.value.message


def test_a_name_that_is_not_utf8_is_refused_in_words_utf8_can_hold(tmp_path: Path) -> None:
    root = tmp_path / "corpus"
    root.mkdir()
    _latin1(root, b"caf\xe9.txt")
    os.symlink(b"caf\xe9.txt", os.fsencode(root) + b"/alias")
    for refuse in (resolve_inside, plain_path):
        with pytest.raises(AppError) as caught:
            refuse(root, "caf\udce9.txt", "corpus_path")
        assert caught.value.code is ErrorCode.DATA_INVALID
        assert caught.value.message == "corpus_path 'caf\\xe9.txt' is not valid UTF-8"
    with pytest.raises(AppError) as linked:
        corpus_files(root, "alias")
    assert linked.value.code is ErrorCode.DATA_INVALID
    assert "'caf\\xe9.txt', whose name is not valid UTF-8" in linked.value.message
    # A file name's bytes as `\\xNN`; a surrogate no name decodes to (JSON's `\\ud800`) as such.
    assert printable("caf\udce9 ok \u00e9") == "caf\\xe9 ok \u00e9"
    assert printable("x\ud800") == "x\\ud800"


def _nest(top: Path, levels: int) -> None:
    """`top/d/d/...`, `levels` deep, with `at.txt` in every folder."""
    folder = top
    for _ in range(levels):
        folder = folder / "d"
        folder.mkdir()
        (folder / "at.txt").write_text("x\n")


def test_a_walk_stops_at_the_depth_limit_and_says_where(tmp_path: Path) -> None:
    root = tmp_path / "corpus"
    root.mkdir()
    _nest(root, MAX_FOLDER_DEPTH + 3)
    skipped: list[Skipped] = []
    before = _open_fds()
    read = list(corpus_walk(root, root.resolve(), skipped))
    assert len(read) == MAX_FOLDER_DEPTH  # one `at.txt` in each folder it entered
    assert skipped == [Skipped(("d",) * (MAX_FOLDER_DEPTH + 1), True, TOO_DEEP)]
    # The limit counts from the root, whichever folder the walk starts at.
    inner = root.joinpath(*["d"] * 10)
    assert len(corpus_files(root, "d/" * 10)) == MAX_FOLDER_DEPTH - 9
    assert CorpusCatalog(root).folder("d/" * 10).files == MAX_FOLDER_DEPTH - 9
    assert [s.path for s in CorpusCatalog(root).folder(None).skipped] == [
        "/".join(skipped[0].parts)
    ]
    with pytest.raises(AppError) as caught:
        corpus_files(root, "/".join(["d"] * (MAX_FOLDER_DEPTH + 1)))
    assert caught.value.code is ErrorCode.DATA_INVALID and TOO_DEEP in caught.value.message
    # Left halfway, the walk closes every folder it held open.
    walk = corpus_walk(inner, root.resolve())
    next(walk)
    next(walk)
    assert _open_fds() > before
    del walk  # CPython closes the generator at once
    assert _open_fds() == before


def test_a_file_whose_path_the_system_cannot_open_is_skipped_and_said_so(tmp_path: Path) -> None:
    root = tmp_path / "corpus"
    root.mkdir()
    (root / "short.txt").write_text("short\n")
    names = [f"{i:02d}" * 90 for i in range(30)]  # 30 folders of 180 bytes: past 4,096 bytes
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    for name in names:  # relative to each parent: the whole path is too long for one call
        os.mkdir(name, dir_fd=fd)
        sub = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = sub
    os.close(os.open("far.txt", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd))
    os.close(fd)
    assert corpus_files(root, ".") == [root / "short.txt"]
    skipped = CorpusCatalog(root).folder(None).skipped
    assert [(s.path, s.reason) for s in skipped] == [("/".join([*names, "far.txt"]), TOO_LONG)]
