"""`python -m model_trainer` is the same as the `model-trainer` command."""

from model_trainer.cli import main

raise SystemExit(main())
