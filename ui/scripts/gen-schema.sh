#!/bin/sh
# Write the API's OpenAPI schema to $1 without starting a server: build the FastAPI app
# from the composition root (no Redis is contacted) and dump `app.openapi()`.
# PYTHON overrides the interpreter (default: the repository's .venv).
set -eu
out="${1:?usage: gen-schema.sh OUT.json}"
here="$(cd "$(dirname "$0")" && pwd)"
python="${PYTHON:-$here/../../.venv/bin/python}"
"$python" -c '
import json, sys
from model_trainer.api.app import create_app
from model_trainer.core.settings import Settings
from model_trainer.services import build_registry

schema = create_app(build_registry(Settings())).openapi()
with open(sys.argv[1], "w", encoding="utf-8") as f:
    json.dump(schema, f, indent=2, ensure_ascii=False)
    f.write("\n")
' "$out"
