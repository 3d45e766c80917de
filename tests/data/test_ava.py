"""AVA label parsing, tables and statistics."""

import numpy as np
import pytest

from nima_utils.data.ava import (
    check_plain_id,
    is_plain_id,
    read_ava_txt,
    read_id_table,
    read_image_list,
    read_labels,
    read_votes_csv,
)
from nima_utils.data.label_stats import label_stats


def test_ava_txt_with_malformed_lines(tmp_path):
    path = tmp_path / "AVA.txt"
    path.write_text(
        "1 953619 0 1 5 17 38 36 15 6 5 1 1 22 1396\n"
        "2 953958 10 7 15 26 26 21 10 8 1 2 0 0 1396\n"
        "3 0012 1 2 3\n"                                   # too few fields
        "\n"
        "4 954184 0 0 x 0 0 0 0 0 0 0 0 0 1396\n"          # not an integer
        "5 954113 0 0 0 0 0 0 0 0 0 0 0 0 1396\n"          # no votes
        "6 953619 1 1 1 1 1 1 1 1 1 1 0 0 1396\n"          # duplicate id
        "7 000042 0 0 0 0 1 0 0 0 0 1 5 -1 12\n"
    )
    labels = read_ava_txt(path)
    assert list(labels.table["image_id"]) == ["953619", "953958", "000042"]  # ids stay strings
    assert [(i.line, i.reason.split(" ")[0]) for i in labels.issues] == [
        (3, "expected"), (5, "vote"), (6, "no"), (7, "duplicate")]
    assert "first on line 1" in labels.issues[-1].reason
    row = labels.table.loc["000042"]
    assert row["votes"] == 2 and row["mean"] == pytest.approx(7.5) and row["std"] == pytest.approx(2.5)
    assert row["tag2"] == -1 and row["challenge"] == 12
    np.testing.assert_allclose(labels.table[[f"p{i}" for i in range(1, 11)]].sum(axis=1), 1.0)


def test_votes_csv(tmp_path):
    path = tmp_path / "votes.csv"
    path.write_text("image_id,c1,c2,c3,c4,c5,c6,c7,c8,c9,c10\n"
                    "1,0,0,0,0,1,1,0,0,0,0\n2,0,0\n3,0,0,0,0,0,0,0,0,0,-1\n,0,0,0,0,1,0,0,0,0,0\n")
    labels = read_votes_csv(path)
    assert list(labels.table["image_id"]) == ["1"]
    assert labels.table.loc["1", "mean"] == pytest.approx(5.5)
    assert [i.line for i in labels.issues] == [3, 4, 5]
    (tmp_path / "bad.csv").write_text("id,score\n1,5\n")
    with pytest.raises(ValueError, match="header"):
        read_votes_csv(tmp_path / "bad.csv")


def test_genuine_ava_lines(ava_dir):
    labels = read_labels(ava_dir / "AVA_subset_10k.txt")
    assert len(labels.table) == 10_000 and labels.issues == []
    table = labels.table
    assert table["image_id"].map(type).eq(str).all()
    assert (table["votes"] > 50).all()
    assert 5.2 < table["mean"].mean() < 5.6


def test_full_label_file_matches_published_statistics(ava_dir):
    labels = read_labels(ava_dir / "ava_votes.csv")
    stats = label_stats(labels.table)
    assert stats["images"] == 255_502 and labels.issues == []
    assert stats["mean_score_mean"] == pytest.approx(5.38, abs=0.01)
    assert stats["votes_mean"] == pytest.approx(210, abs=2)
    assert stats["share_above_5"] == pytest.approx(0.708, abs=0.001)
    assert stats["share_above_5_1"] == pytest.approx(0.658, abs=0.001)
    assert stats["votes_min"] == 78 and stats["votes_max"] == 549


def test_official_lists_and_tables(ava_dir):
    test_ids = read_image_list(ava_dir / "aesthetics_image_lists" / "generic_test.jpgl")
    assert len(test_ids) == 20_000 and len(set(test_ids)) == 20_000
    tags = read_id_table(ava_dir / "tags.txt")
    assert tags[1] == "Abstract" and len(tags) == 66
    challenges = read_id_table(ava_dir / "challenges.txt")
    assert challenges[1396] == "100_Meters"


def test_ids_that_are_not_plain_are_skipped(tmp_path):
    """Ids become file names: one that could name another file never reaches the table."""
    path = tmp_path / "AVA.txt"
    path.write_text("1 953619 0 1 5 17 38 36 15 6 5 1 1 22 1396\n"
                    "2 ../../etc/passwd 0 1 5 17 38 36 15 6 5 1 1 22 1396\n"
                    "3 a.b 0 1 5 17 38 36 15 6 5 1 1 22 1396\n")
    labels = read_ava_txt(path)
    assert list(labels.table["image_id"]) == ["953619"]
    assert [(i.line, "plain id" in i.reason) for i in labels.issues] == [(2, True), (3, True)]
    csv = tmp_path / "votes.csv"
    csv.write_text("image_id,c1,c2,c3,c4,c5,c6,c7,c8,c9,c10\n/abs,0,0,0,0,1,1,0,0,0,0\n12,0,0,0,0,1,1,0,0,0,0\n")
    assert list(read_votes_csv(csv).table["image_id"]) == ["12"]
    jpgl = tmp_path / "test.jpgl"
    jpgl.write_text("953619\n../x\n12\n")
    assert read_image_list(jpgl) == ["953619", "12"]


@pytest.mark.parametrize("value", ["953619", "1000001", "abc_12-x"])
def test_plain_ids_pass(value):
    assert check_plain_id(value) == value and is_plain_id(value)


@pytest.mark.parametrize("value", ["", "..", "../1", "/1", "1/2", "1.jpg", "-1", "1 2", "1\x00", "é", "9" * 65, 12])
def test_other_ids_are_refused(value):
    assert not is_plain_id(value)
    with pytest.raises(ValueError, match="not a plain id"):
        check_plain_id(value)
