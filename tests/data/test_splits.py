import json

import pandas as pd
import pytest

from nima_utils.data.ava import read_image_list, read_labels
from nima_utils.data.splits import (
    PAPER_SIZES,
    check_disjoint,
    make_split,
    paper_sizes,
    read_split,
    write_split,
)


def toy_table(n):
    ids = [f"{i:06d}" for i in range(n)]
    return pd.DataFrame({"image_id": ids, **{f"c{i}": 1 for i in range(1, 11)}, "votes": 10, "mean": 5.5,
                         "std": 2.87}, index=ids)


def test_paper_sizes_are_exact_on_full_ava_and_proportional_otherwise():
    assert paper_sizes(sum(PAPER_SIZES.values())) == PAPER_SIZES
    small = paper_sizes(1000)
    assert small == {"train": 900, "val": 50, "test": 50}
    assert sum(paper_sizes(12_345).values()) == 12_345


@pytest.mark.parametrize("scheme", ["official", "paper"])
def test_deterministic_disjoint_complete(scheme):
    table = toy_table(2000)
    test_list = [f"{i:06d}" for i in range(0, 4000, 7)]  # some ids are not labelled
    a = make_split(table, scheme, test_list, 0.1, seed=3)
    b = make_split(table.sample(frac=1, random_state=1), scheme, test_list, 0.1, seed=3)  # order does not matter
    assert a == b
    assert a != make_split(table, scheme, test_list, 0.1, seed=4)
    check_disjoint(a)
    assert sorted(i for ids in a.values() for i in ids) == sorted(table["image_id"])


def test_official_split_uses_the_list():
    table = toy_table(100)
    listed = ["000003", "000050", "999999"]  # 999999 has no label or image
    splits = make_split(table, "official", listed, val_share=0.2, seed=0)
    assert splits["test"] == ["000003", "000050"]
    assert len(splits["val"]) == round(98 * 0.2)
    with pytest.raises(ValueError, match="test list"):
        make_split(table, "official")


def test_leak_is_detected():
    with pytest.raises(ValueError, match="both train and test"):
        check_disjoint({"train": ["1", "2"], "val": [], "test": ["2"]})


def test_written_split_round_trips_with_manifest(tmp_path):
    table = toy_table(50)
    src = tmp_path / "AVA.txt"
    src.write_text("labels")
    splits = make_split(table, "paper", seed=1)
    manifest = json.loads(write_split(splits, table, tmp_path / "s", "paper", 1, sources={"labels": src}).read_text())
    assert manifest["counts"] == {k: len(v) for k, v in splits.items()} and manifest["seed"] == 1
    assert len(manifest["sources"]["labels"]["sha256"]) == 64
    back = read_split(tmp_path / "s")
    assert sorted(back["test"]["image_id"]) == splits["test"]


def test_real_official_split(ava_dir):
    table = read_labels(ava_dir / "ava_votes.csv").table
    test_list = read_image_list(ava_dir / "aesthetics_image_lists" / "generic_test.jpgl")
    splits = make_split(table, "official", test_list, val_share=0.05, seed=0)
    assert len(splits["test"]) == 19_928  # the listed ids that have labels
    check_disjoint(splits)
    paper = make_split(table, "paper", seed=0)
    assert {k: len(v) for k, v in paper.items()} == paper_sizes(len(table))


@pytest.mark.parametrize("splits", [{"train": ["../x"], "val": [], "test": []}, {"../train": ["1"]}])
def test_ids_and_split_names_must_be_plain(splits, tmp_path):
    with pytest.raises(ValueError, match="not a plain id"):
        check_disjoint(splits)
    table = toy_table(3)
    with pytest.raises(ValueError, match="not a plain id"):
        make_split(pd.concat([table, toy_table(1).set_axis(["a/b"]).assign(image_id="a/b")]), "paper")


def split_groups(splits, groups):
    return {name: {groups[i] for i in ids} for name, ids in splits.items()}


@pytest.mark.parametrize("scheme", ["official", "paper"])
def test_grouped_split_keeps_each_group_in_one_split(scheme):
    table = toy_table(600)
    groups = {i: f"photo{int(i) // 20}" for i in table["image_id"]}  # 30 groups of 20 images
    test_list = [i for i in table["image_id"] if groups[i] in ("photo0", "photo7")]
    splits = make_split(table, scheme, test_list, 0.1, seed=2, groups=groups)
    check_disjoint(splits)
    seen = split_groups(splits, groups)
    for a, b in (("train", "val"), ("train", "test"), ("val", "test")):
        assert not seen[a] & seen[b], (a, b)
    assert seen["val"] and seen["test"] and sorted(i for ids in splits.values() for i in ids) == sorted(groups)
    if scheme == "official":
        assert seen["test"] == {"photo0", "photo7"} and len(seen["val"]) == 3  # 10% of the 28 other groups
    assert splits == make_split(table.sample(frac=1, random_state=0), scheme, test_list, 0.1, seed=2, groups=groups)


def test_grouped_official_split_leaves_out_images_that_share_a_test_group():
    table = toy_table(100)
    groups = {i: f"g{int(i) // 10}" for i in table["image_id"]}
    splits = make_split(table, "official", ["000003"], 0.2, seed=0, groups=groups)  # one image of group g0 listed
    assert splits["test"] == ["000003"]
    assert not {groups[i] for i in splits["train"] + splits["val"]} & {"g0"}
    assert len(splits["train"]) + len(splits["val"]) == 90


def test_written_split_carries_groups_and_read_groups_explains_bad_files(tmp_path):
    from nima_utils.data.splits import read_groups

    table = toy_table(40)
    (tmp_path / "groups.csv").write_text("image_id,group\n" + "".join(f"{i},p{int(i) % 4}\n" for i in table.index))
    groups = read_groups(tmp_path / "groups.csv")
    splits = make_split(table, "official", [i for i in table.index if groups[i] == "p0"], 0.3, 0, groups)
    manifest = json.loads(write_split(splits, table.assign(group=[groups[i] for i in table.index]), tmp_path / "s",
                                      "official", 0, 0.3).read_text())
    assert manifest["groups"] == {"train": 2, "val": 1, "test": 1}
    back = read_split(tmp_path / "s")
    assert set(back["test"]["group"]) == {"p0"} and not set(back["val"]["group"]) & set(back["train"]["group"])
    (tmp_path / "bad.csv").write_text("id,photo\n1,a\n")
    with pytest.raises(ValueError, match="needs the columns image_id and group"):
        read_groups(tmp_path / "bad.csv")
