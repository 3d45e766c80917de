import csv
import json
import subprocess
import sys

import pytest

from nima_utils.cli import main
from tests import image_corpus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return image_corpus.build(tmp_path_factory.mktemp("cli") / "photos")


def read_rows(path):
    with open(path, newline="") as f:
        return {row["path"].rsplit("/", 1)[-1]: row for row in csv.DictReader(f)}


def test_score_folder_rows_and_exit_status(corpus, tiny_weights, tmp_path):
    out = tmp_path / "scores.csv"
    status = main(["score", str(corpus), "--weights", str(tiny_weights), "--out", str(out), "--batch-size", "4",
                   "--quiet"])
    assert status == 1  # some files failed
    rows = read_rows(out)
    assert set(rows) == set(image_corpus.GOOD) | set(image_corpus.BAD)
    for name in image_corpus.GOOD:
        row = rows[name]
        assert row["error"] == "" and 1 <= float(row["mean"]) <= 10
        assert sum(float(row[f"p{i}"]) for i in range(1, 11)) == pytest.approx(1, abs=1e-4)
        assert row["decision"] == ("accepted" if float(row["mean"]) > 5.1 else "rejected")
    for name, reason in image_corpus.BAD.items():
        assert reason in rows[name]["error"] and rows[name]["mean"] == ""


def test_only_good_files_exit_zero_and_jsonl(corpus, tiny_weights, tmp_path):
    out = tmp_path / "scores.jsonl"
    files = [str(corpus / n) for n in ("photo.jpg", "cmyk.jpg", "alpha.png", "rotated.jpg")]
    args = ["score", *files, "--weights", str(tiny_weights), "--out", str(out), "--threshold", "1", "--quiet"]
    assert main(args) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["path"] for r in rows] == files
    assert all(r["decision"] == "accepted" and r["threshold"] == 1 and len(r["probs"]) == 10 for r in rows)


def test_user_errors_are_one_line(corpus, tiny_weights, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("NIMA_LAB_HOME", str(tmp_path))
    assert main(["score", str(corpus / "photo.jpg"), "--quiet"]) == 2
    assert "make weights" in capsys.readouterr().err
    assert main(["score", str(corpus), "--weights", str(tiny_weights), "--out", str(tmp_path / "x.txt")]) == 2
    assert ".csv or .jsonl" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["score", str(corpus), "--batch-size", "0"])


def test_command_line_has_no_traceback_and_stderr_holds_only_our_lines(corpus, tiny_weights, tmp_path):
    import os

    proc = subprocess.run(
        [sys.executable, "-m", "nima_utils.cli", "score", str(corpus), "--weights", str(tiny_weights), "--quiet"],
        capture_output=True, text=True, timeout=300, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "0"},
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    # TensorFlow's start-up lines (absl, cpu_feature_guard, oneDNN) print whatever TF_CPP_MIN_LOG_LEVEL says
    assert all(line.startswith(("nima score: ", "  ")) for line in proc.stderr.splitlines()), proc.stderr
    assert f"{len(image_corpus.GOOD)} scored, {len(image_corpus.BAD)} failed" in proc.stderr
    assert len(proc.stdout.strip().splitlines()) == 1 + len(image_corpus.GOOD) + len(image_corpus.BAD)


def no_model_load(monkeypatch):
    """Usage errors must be found before the (slow) model load."""
    import nima_utils.model.engine

    def refuse(*args, **kwargs):
        raise AssertionError("the model was loaded before a usage error was reported")

    monkeypatch.setattr(nima_utils.model.engine, "load_engine", refuse)


def one_line(err):
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def test_out_is_never_an_input(corpus, tiny_weights, tmp_path, monkeypatch, capsys):
    listed = tmp_path / "list.csv"
    listed.write_text("precious,data\n")
    link = tmp_path / "link.csv"
    link.symlink_to(listed)
    no_model_load(monkeypatch)
    for out in (listed, link):
        assert main(["score", str(corpus / "photo.jpg"), str(listed), "--weights", str(tiny_weights),
                     "--out", str(out), "--quiet"]) == 2
        assert "is one of the inputs" in one_line(capsys.readouterr().err)
    assert listed.read_text() == "precious,data\n"


def test_bad_paths_and_outs_are_usage_errors_before_the_model_loads(corpus, tiny_weights, tmp_path, monkeypatch,
                                                                   capsys):
    import os

    no_model_load(monkeypatch)
    photo = str(corpus / "photo.jpg")
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    unwritable = "/proc" if os.geteuid() == 0 else str(locked)  # root may write anywhere but in /proc
    cases = {
        (photo, str(tmp_path / "nope.jpg")): "does not exist",
        (photo, "--out", str(tmp_path / "x.txt")): ".csv or .jsonl",
        (photo, "--out", str(tmp_path / "no" / "such" / "x.csv")): "does not exist",
        (photo, "--out", str(corpus / "photo.jpg" / "x.csv")): "is not a folder",
        (photo, "--out", str(tmp_path / "dir.csv")): "is a folder",
        (photo, "--out", f"{unwritable}/x.csv"): "cannot write",
    }
    (tmp_path / "dir.csv").mkdir()
    for args, message in cases.items():
        assert main(["score", *args, "--weights", str(tiny_weights), "--quiet"]) == 2, args
        assert message in one_line(capsys.readouterr().err), args


def test_out_is_replaced_atomically_and_an_interrupted_run_keeps_old_and_partial(corpus, tiny_weights, tmp_path,
                                                                                 monkeypatch, capsys):
    import nima_utils.scoring

    out = tmp_path / "scores.csv"
    out.write_text("old results\n")
    real = nima_utils.scoring.score_images

    def interrupted(*args, **kwargs):
        results = real(*args, **kwargs)
        yield next(results)
        raise KeyboardInterrupt

    monkeypatch.setattr(nima_utils.scoring, "score_images", interrupted)
    files = [str(corpus / "photo.jpg"), str(corpus / "gray.png")]
    assert main(["score", *files, "--weights", str(tiny_weights), "--out", str(out), "--quiet"]) == 130
    assert out.read_text() == "old results\n"  # untouched
    partial = tmp_path / "scores.csv.partial"
    assert "partial" in capsys.readouterr().err
    assert len(read_rows(partial)) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scores.csv", "scores.csv.partial"]  # no temp file left
    monkeypatch.setattr(nima_utils.scoring, "score_images", real)
    assert main(["score", *files, "--weights", str(tiny_weights), "--out", str(out), "--quiet"]) == 0
    assert set(read_rows(out)) == {"photo.jpg", "gray.png"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scores.csv", "scores.csv.partial"]


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_a_name_that_is_not_utf8_loses_no_rows(corpus, tiny_weights, tmp_path, suffix):
    import os
    import shutil

    folder = tmp_path / "photos"
    folder.mkdir()
    shutil.copy(corpus / "photo.jpg", folder / "a.jpg")
    shutil.copy(corpus / "photo.jpg", folder / os.fsdecode(b"caf\xe9.jpg"))  # Latin-1 name
    shutil.copy(corpus / "gray.png", folder / "z.png")
    out = tmp_path / f"scores{suffix}"
    assert main(["score", str(folder), "--weights", str(tiny_weights), "--out", str(out), "--quiet"]) == 0
    text = out.read_bytes().decode("utf-8")  # valid UTF-8 throughout
    names = [str(folder / n) for n in ("a.jpg", "caf\\xe9.jpg", "z.png")]
    if suffix == ".csv":
        assert list(csv.DictReader(text.splitlines())) and [r["path"] for r in csv.DictReader(text.splitlines())] \
            == names
    else:
        assert [json.loads(line)["path"] for line in text.splitlines()] == names


def test_unreadable_files_and_folders_get_rows(corpus, tiny_weights, tmp_path, monkeypatch):
    import os
    import shutil

    folder = tmp_path / "photos"
    (folder / "locked").mkdir(parents=True)
    shutil.copy(corpus / "photo.jpg", folder / "a.jpg")
    shutil.copy(corpus / "photo.jpg", folder / "locked" / "b.jpg")
    os.mkfifo(folder / "pipe.jpg")
    real_scandir = os.scandir

    def scandir(path="."):
        if str(path) == str(folder / "locked"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    out = tmp_path / "scores.csv"
    assert main(["score", str(folder), "--weights", str(tiny_weights), "--out", str(out), "--quiet"]) == 1
    rows = read_rows(out)
    assert rows["a.jpg"]["error"] == "" and float(rows["a.jpg"]["mean"]) > 1
    assert "folder not readable" in rows["locked"]["error"]
    assert "not a regular file" in rows["pipe.jpg"]["error"]


def test_small_images_and_pixel_limit(corpus, tiny_weights, tmp_path):
    from PIL import Image

    Image.new("RGB", (10, 40)).save(tmp_path / "tiny.png")
    out = tmp_path / "scores.csv"
    args = ["score", str(tmp_path / "tiny.png"), str(corpus / "bomb.png"), str(corpus / "photo.jpg"),
            "--weights", str(tiny_weights), "--out", str(out), "--quiet", "--max-pixels", "100000"]
    assert main(args) == 1
    rows = read_rows(out)
    assert "too small" in rows["tiny.png"]["error"]
    assert "> 100,000" in rows["bomb.png"]["error"] and "> 100,000" in rows["photo.jpg"]["error"]


@pytest.mark.parametrize("args", [
    ["score", "x.jpg", "--batch-size", "abc"], ["score", "x.jpg", "--batch-size", "0"],
    ["score", "x.jpg", "--threshold", "high"], ["score", "x.jpg", "--threshold", "nan"],
    ["score", "x.jpg", "--max-pixels", "1e9"], ["score", "x.jpg", "--engine", "onnx"], ["score"],
    ["score", "x.jpg", "--frobnicate"], ["serve", "--port", "http"], ["serve", "--port", "70000"],
    ["serve", "--max-file-mb", "-1"], ["serve", "--max-request-mb", "lots"], ["serve", "--max-batch", "1.5"],
    ["serve", "--header-timeout", "0"], ["serve", "--body-timeout", "soon"], ["serve", "--max-connections", "-3"],
    ["serve", "--decode-seconds", "inf"], ["train", "--batch-size", "abc"], ["train", "--base-lr", "abc"],
    ["train", "--head-lr", "nan"], ["train", "--overwrite", "maybe"], ["bogus"],
])
def test_option_errors_are_one_line_in_words(args, capsys):
    with pytest.raises(SystemExit) as info:
        main(args)
    assert info.value.code == 2
    line = one_line(capsys.readouterr().err)
    assert line.startswith("nima") and "error:" in line
    for function_name in ("positive_int", "_threshold", "int value", "float value", "_port", "_megabytes", "_seconds",
                          "parse", "_whole", "_real", "_number_or_none", "_flag"):
        assert function_name not in line, line
