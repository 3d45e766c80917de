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


def test_command_line_has_no_traceback(corpus, tiny_weights, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "nima_utils.cli", "score", str(corpus), "--weights", str(tiny_weights)],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert f"{len(image_corpus.GOOD)} scored, {len(image_corpus.BAD)} failed" in proc.stderr
    assert len(proc.stdout.strip().splitlines()) == 1 + len(image_corpus.GOOD) + len(image_corpus.BAD)
