"""The one parameter pattern: every notebook's dataclass lists every problem, one error names them all."""

import dataclasses

import pytest

from nima_utils.params import NOTEBOOK_PARAMETERS, ParameterError, parameter_class
from nima_utils.pipeline.config import NOTEBOOKS, notebook_parameters


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_every_notebook_has_a_parameter_dataclass_of_its_own_parameters(name):
    cls = parameter_class(name)
    fields = {f.name for f in dataclasses.fields(cls)}
    checked = fields & set(notebook_parameters(name))
    assert checked and cls.title
    params = cls.from_values({"not_a_parameter": 1, **{k: v["default"] for k, v in notebook_parameters(name).items()}})
    assert isinstance(params.setting_problems(), list)


def test_the_error_names_every_problem_as_a_bullet():
    cls = parameter_class("03_evaluate")
    with pytest.raises(ParameterError) as failure:
        cls(weights=__file__, split="holdout", batch_size=0, bootstrap=5, data_summary="/nowhere/summary.json").check()
    message = str(failure.value)
    assert isinstance(failure.value, ValueError) and len(failure.value.problems) == 4
    assert message.startswith("invalid notebook 03 (evaluation) parameters:\n  - split must be one of")
    assert message.count("\n  - ") == 4 and "/nowhere/summary.json does not exist" in message
    assert set(NOTEBOOK_PARAMETERS) == set(NOTEBOOKS)
