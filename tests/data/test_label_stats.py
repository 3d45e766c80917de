"""Label statistics as numbers (summary.json) and as a readable table (notebook 01's page)."""

import pandas as pd

from nima_utils.data.label_stats import label_stats, stats_table


def test_stats_table_shows_counts_scores_and_shares_readably():
    table = pd.DataFrame({"votes": [120, 259, 200], "mean": [4.5, 5.05, 6.2], "std": [1.3, 1.4, 1.5]})
    shown = stats_table(label_stats(table))["value"]
    assert shown["images"] == "3" and shown["votes per image: fewest, most"] == "120, 259"
    assert shown["votes per image: mean, median"] == "193.0, 200.0"
    assert shown["mean score: lowest, highest"] == "4.50, 6.20"
    assert shown["share with mean above 5.0"] == "66.7%" and shown["share with mean above 5.1"] == "33.3%"
    assert not any("000000" in value for value in shown)
