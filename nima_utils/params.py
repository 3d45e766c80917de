"""Notebook parameters, checked one way everywhere: a dataclass per notebook whose `problems()` lists
every invalid value as a sentence, and one `ParameterError` that names them all at once.

The pipeline (`pipeline.config`) runs the same checks on a config before any work, from the registry
`NOTEBOOK_PARAMETERS`; a notebook's first cell after its parameters runs `check()`.
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any, ClassVar, Self


def format_problems(header: str, problems: list[str]) -> str:
    """`header:` then one indented bullet per problem: the shape of every multi-problem message."""
    return f"{header}:\n  - " + "\n  - ".join(problems)


class ParameterError(ValueError):
    """Invalid parameters; the message names every problem (`problems` holds them as a list)."""

    def __init__(self, title: str, problems: list[str]) -> None:
        super().__init__(format_problems(f"invalid {title}", problems))
        self.problems = list(problems)


class Parameters:
    """Mixin of the notebooks' parameter dataclasses: `setting_problems()` are those seen from the values
    alone (a pipeline checks them before notebook 01 has made any data), `data_problems()` those of the
    data they point to; `check()` raises one `ParameterError` naming every problem."""

    title: ClassVar[str] = "parameters"

    def setting_problems(self) -> list[str]:
        return []

    def data_problems(self) -> list[str]:
        return []

    def problems(self) -> list[str]:
        """Every invalid value, as a sentence (empty: all good)."""
        return self.setting_problems() + self.data_problems()

    def check(self) -> Self:
        """Raise `ParameterError` naming every problem; return self when there is none."""
        problems = self.problems()
        if problems:
            raise ParameterError(self.title, problems)
        return self

    @classmethod
    def from_values(cls, values: dict[str, Any]) -> Self:
        """The parameters among `values` (a notebook's whole parameter cell); other names are ignored."""
        names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        return cls(**{k: v for k, v in values.items() if k in names})


NOTEBOOK_PARAMETERS = {
    "01_ava_download_cleanup": "nima_utils.data.sources:DataParameters",
    "02_train": "nima_utils.train.config:TrainConfig",
    "03_evaluate": "nima_utils.study.evaluate:EvaluateParameters",
    "04_sensitivity": "nima_utils.study.sensitivity:SensitivityParameters",
    "05_explore": "nima_utils.study.explore:ExploreParameters",
}
"""Each notebook's parameter dataclass ("module:class", imported when asked for)."""


def parameter_class(notebook: str) -> type[Parameters]:
    """The parameter dataclass of `notebook` (a name of `NOTEBOOK_PARAMETERS`)."""
    module, name = NOTEBOOK_PARAMETERS[notebook].split(":")
    return getattr(importlib.import_module(module), name)
