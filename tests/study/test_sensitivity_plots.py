"""Sensitivity figures sized for the run index: shown about 1100 px wide, their text keeps its size."""

import matplotlib

matplotlib.use("Agg")

import pandas as pd

from nima_utils.study import sensitivity, sensitivity_plots
from nima_utils.study.perturbations import PERTURBATIONS


def test_the_facet_of_every_edit_fits_the_index_page_width():
    rows = [{"image": image, "perturbation": name, "factor": f, "mean": 5.0 + 0.1 * i, "std": 1.4}
            for image in ("a", "b") for name, p in PERTURBATIONS.items() for i, f in enumerate(p.factors)]
    scores = pd.DataFrame(rows)
    fig = sensitivity_plots.facets(scores, sensitivity.aggregate(scores), list(PERTURBATIONS))
    width, height = fig.get_size_inches()
    assert width * 100 <= 1160 and height < width  # saved at 100 dpi: at most ~5% shrink on the page
    assert len(fig.axes) == len(PERTURBATIONS)
    two = sensitivity_plots.facets(scores, sensitivity.aggregate(scores), ["blur", "contrast"])
    assert len(two.axes) == 2 and two.get_size_inches()[0] < width  # no empty columns
