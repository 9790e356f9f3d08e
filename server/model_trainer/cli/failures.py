"""How a failure reads: `CODE: message` on one line, never a traceback.

pydantic's own text spans lines, links its documentation and repeats the input (which may
be a secret); people need the field and the reason. `describe` names whatever else reaches
`main`: the API's errors, the services' own (`AppError`, e.g. two plugins claiming one
name), and, as a last resort, a bug of ours, with where it happened for the report.
"""

from __future__ import annotations

import json
import traceback
from pathlib import Path

from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic_settings import SettingsError

from model_trainer.cli.session import fail
from model_trainer.client.errors import ApiError
from model_trainer.core.errors import AppError, ErrorCode
from model_trainer.core.settings import Settings


class _Problem(BaseModel):
    """One of pydantic's errors, as much of it as people read."""

    loc: list[str | int]
    msg: str


_PROBLEMS: TypeAdapter[list[_Problem]] = TypeAdapter(list[_Problem])


def validation_problem(
    exc: ValidationError, env_names: bool = False, json_value: bool = False
) -> str:
    """`field: reason; ...` (`WORKER__THREADS: ...` with `env_names`; `json_value`: the
    model was `JsonValue`, whose errors name its union's branch after each level, as in
    `trainer.dict.when`, left out here)."""
    # Read back from its JSON: `errors()` is typed with `Any` for the input and context.
    raw = exc.json(include_url=False, include_context=False, include_input=False)
    parts: list[str] = []
    for problem in _PROBLEMS.validate_json(raw):
        path = [str(part) for part in problem.loc][:: 2 if json_value else 1]
        where = "__".join(path).upper() if env_names else ".".join(path)
        parts.append(f"{where}: {problem.msg}" if where else problem.msg)
    return "; ".join(parts)


def settings_problem(exc: ValidationError | SettingsError) -> str:
    """Which setting is wrong and why, by its environment name."""
    if isinstance(exc, ValidationError):
        return validation_problem(exc, env_names=True)
    # A nested setting (SECURITY, WORKER, ...) given whole must be JSON.
    # Its only word on which: 'error parsing value for field "security" from source ...'.
    field = str(exc).partition('field "')[2].partition('"')[0]
    where = field.upper() or "a setting"
    cause = exc.__cause__
    if isinstance(cause, json.JSONDecodeError):
        return f"{where} is not valid JSON ({cause.msg} at column {cause.colno})"
    return f"{where} cannot be read ({cause or exc})"


def load_settings() -> Settings:
    """The settings from the environment and `.env`, or SETTINGS_INVALID naming the field."""
    try:
        return Settings()
    except (ValidationError, SettingsError) as exc:
        fail(settings_problem(exc), "SETTINGS_INVALID")


def describe(exc: Exception) -> str:
    """`CODE: message` for a failure no command turned into a line of its own."""
    if isinstance(exc, ApiError):
        return exc.one_line()
    if isinstance(exc, AppError):
        return f"{exc.code}: {exc.message}"
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
    return (
        f"{ErrorCode.INTERNAL_ERROR}: {type(exc).__name__}: {exc}{where} (a bug; please report it)"
    )
