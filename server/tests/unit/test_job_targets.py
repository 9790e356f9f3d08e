"""Every job target names a module-level function that RQ can import and call with one str."""

from __future__ import annotations

import inspect
from collections.abc import Callable

import pytest
from pydantic import ImportString, TypeAdapter

from model_trainer.jobs.targets import JobTarget

JOB_FUNCTION: TypeAdapter[Callable[[str], object]] = TypeAdapter(
    ImportString[Callable[[str], object]]
)
"""Imports a dotted name as RQ does, and checks that it found something callable."""
ONE_ARGUMENT = ("POSITIONAL_ONLY", "POSITIONAL_OR_KEYWORD")
"""How RQ passes the payload: the job's one positional argument."""


@pytest.mark.parametrize("target", list(JobTarget))
def test_each_target_is_a_function_of_one_str(target: JobTarget) -> None:
    function = JOB_FUNCTION.validate_python(target.value)
    assert inspect.isfunction(function) and function.__module__ == target.rsplit(".", 1)[0]
    parameters = list(inspect.signature(function, eval_str=True).parameters.values())
    assert len(parameters) == 1, f"{target} takes {parameters}"
    assert parameters[0].kind.name in ONE_ARGUMENT
    assert str(parameters[0]) == f"{parameters[0].name}: str", target


def test_a_target_that_does_not_resolve_is_refused() -> None:
    with pytest.raises(ValueError, match="No module named|cannot import"):
        JOB_FUNCTION.validate_python("model_trainer.worker.jobs.no_such_job")
