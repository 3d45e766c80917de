"""Notebook 02's learning-curve figure, as the run index shows it."""

import pandas as pd

from nima_utils.train.figures import learning_curves


def test_kept_epoch_is_in_the_legend_and_equal_rates_both_show():
    history = pd.DataFrame({"phase": ["head"] * 3 + ["finetune"] * 2, "epoch": [1, 2, 3, 1, 2],
                            "train_emd": [0.2, 0.15, 0.12, 0.11, 0.1], "val_emd": [0.21, 0.16, 0.17, 0.15, 0.16],
                            "lr_base": [0, 0, 0, 1e-4, 1e-4], "lr_head": [3e-3, 3e-3, 3e-3, 1e-4, 1e-4]})
    fig = learning_curves(history, "finetune 1", 0.15)
    head, finetune, rates = fig.axes
    assert not [t for ax in fig.axes for t in ax.texts]  # no label written over the plot or its ticks
    assert "kept: epoch 1 (val. 0.1500)" in [t.get_text() for t in finetune.get_legend().get_texts()]
    assert head.get_legend() is not None and "kept" not in str([t.get_text() for t in head.get_legend().get_texts()])
    base, = [line for line in rates.lines if line.get_label().startswith("base")]
    top, = [line for line in rates.lines if line.get_label() == "head"]
    assert base.get_linestyle() == "--" and top.get_linewidth() > 2 * base.get_linewidth()
    assert fig.get_size_inches()[0] * 100 <= 1160
