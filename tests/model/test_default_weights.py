"""Which weights a command uses when none are given: models trained on human votes before any trained
on the demo's synthetic labels, and the choice said in one line on every run."""

import dataclasses
import os
import shutil

import pytest

from nima_utils.cli import main
from nima_utils.data.sources import labels_of_source
from nima_utils.model.card import ModelCard, ModelCardError, label_kind, read_card, write_card
from nima_utils.model.weights import IDEALO_FILENAME, WeightsError, choose_weights
from tests.image_corpus import photo

DEMO_CACHE = "training cache /home/me/nima/data/cache_demo_official_256 (256 px, bilinear)"


def _run(folder, name, labels, age, **card):
    """A fake project run (only its card is read to choose), `age` seconds old."""
    path = folder / name / "nima.weights.h5"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not read")
    write_card(path, ModelCard(labels=labels, **card))
    os.utime(path, (1e9 - age, 1e9 - age))
    return path


def test_labels_come_from_the_card_or_an_older_cards_training_data():
    assert label_kind(ModelCard(labels="human")) == "human"
    assert label_kind(ModelCard(labels="synthetic", training_data="AVA")) == "synthetic"
    # cards written before the field: notebook 01's demo folder names give the demo away
    assert label_kind(ModelCard(training_data=DEMO_CACHE)) == "synthetic"
    assert label_kind(ModelCard(training={"split_dir": "/d/splits_demo_official"})) == "synthetic"
    assert label_kind(ModelCard(training_data="training cache /data/cache_archives_official_256")) == "unknown"
    assert label_kind(ModelCard(training_data="training cache /home/demo/cache_ava_256")) == "unknown"
    with pytest.raises(ModelCardError, match="field labels must be one of human, synthetic, unknown"):
        ModelCard(labels="votes")
    assert [labels_of_source(s) for s in ("demo", "archives", "folder", "other")] == \
        ["synthetic", "human", "human", "unknown"]


def test_a_human_vote_model_is_chosen_over_a_newer_demo_run_and_the_line_says_so(tmp_path):
    demo = _run(tmp_path, "demo", "synthetic", age=0)
    only = choose_weights(None, tmp_path)
    assert only.path == demo and only.labels == "synthetic"
    assert "the only weights" in only.line() and "CAUTION: trained on the demo's synthetic labels" in only.line()
    old = _run(tmp_path, "old", "unknown", age=50)  # a card that does not say: before the demo's
    assert choose_weights(None, tmp_path).path == old
    (tmp_path / IDEALO_FILENAME).write_bytes(b"x")  # idealo's, under its published name
    chosen = choose_weights(None, tmp_path)
    assert chosen.path == tmp_path / IDEALO_FILENAME and chosen.labels == "human"
    assert "idealo's AVA-trained weights (human votes)" in chosen.why and "passed over 1 run(s)" in chosen.why
    assert str(demo) in chosen.why and "CAUTION" not in chosen.line()
    ava = _run(tmp_path, "ava", "human", age=100)  # the oldest, but trained on votes: before idealo's
    assert choose_weights(None, tmp_path).path == ava
    given = choose_weights(demo, tmp_path, given_as="given with --weights")
    assert given.path == demo and given.why == "given with --weights" and "CAUTION" in given.line()
    with pytest.raises(WeightsError, match="No NIMA weights"):
        choose_weights(None, tmp_path / "empty")


def test_nima_score_says_which_model_it_chose_and_why(tiny_weights, tmp_path, monkeypatch, capsys):
    weights = tmp_path / "home" / "weights"
    (weights / "demo").mkdir(parents=True)
    demo = weights / "demo" / "nima.weights.h5"
    shutil.copy(tiny_weights, demo)
    card = read_card(tiny_weights)
    write_card(demo, dataclasses.replace(card, labels="synthetic"))
    monkeypatch.setenv("NIMA_LAB_HOME", str(tmp_path / "home"))
    image = tmp_path / "photo.jpg"
    photo().save(image)
    assert main(["score", str(image), "--quiet"]) == 0
    line = next(x for x in capsys.readouterr().err.splitlines() if "weights" in x)
    assert line.startswith(f"nima score: weights {demo} (the only weights in {weights}") and "CAUTION" in line
    assert main(["score", str(image), "--weights", str(tiny_weights), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert f"weights {tiny_weights} (given with --weights)" in err and "CAUTION" not in err


def test_nima_serve_says_which_model_it_chose_before_serving(tiny_weights, tmp_path, monkeypatch, capsys):
    import nima_utils.serve.app as app

    served = []
    monkeypatch.setattr(app, "serve", lambda application, *args: served.append(args))  # no server: just the line
    (tmp_path / "weights").mkdir()
    shutil.copy(tiny_weights, tmp_path / "weights" / "ava.weights.h5")
    write_card(tmp_path / "weights" / "ava.weights.h5", dataclasses.replace(read_card(tiny_weights), labels="human"))
    monkeypatch.setenv("NIMA_LAB_HOME", str(tmp_path))
    assert main(["serve", "--port", "0"]) == 0 and served
    err = capsys.readouterr().err
    assert f"nima serve: weights {tmp_path / 'weights' / 'ava.weights.h5'} (the newest project run trained on " \
           "human votes)" in err
