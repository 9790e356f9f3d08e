"""The `model-trainer` command: `api`, `worker`, and `demo` (everything on one machine)."""

from __future__ import annotations

import argparse
import sys


class CliArgs(argparse.Namespace):
    """Parsed arguments, typed (argparse fills these attributes)."""

    command: str = ""
    host: str = "127.0.0.1"
    port: int = 8000
    burst: bool = False
    keep_running: bool = False


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="model-trainer", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    api = sub.add_parser("api", help="serve the HTTP API")
    api.add_argument("--host", default="127.0.0.1")
    api.add_argument("--port", type=int, default=8000)
    worker = sub.add_parser("worker", help="run jobs from the queue")
    worker.add_argument("--burst", action="store_true", help="exit when the queue is empty")
    demo = sub.add_parser("demo", help="start Redis (if needed), API and worker; train a demo")
    demo.add_argument("--port", type=int, default=8000)
    demo.add_argument("--keep-running", action="store_true", help="serve until Ctrl-C")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv, namespace=CliArgs())
    from model_trainer.core.settings import Settings

    settings = Settings()
    if args.command == "api":
        from model_trainer.api.server import serve

        serve(settings, args.host, args.port)
        return 0
    if args.command == "worker":
        from model_trainer.worker.main import run_worker

        run_worker(settings, burst=args.burst)
        return 0
    from model_trainer.demo import run_demo

    return run_demo(settings, args.port, args.keep_running)


if __name__ == "__main__":
    sys.exit(main())
