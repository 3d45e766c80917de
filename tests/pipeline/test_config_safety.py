"""Untrusted pipeline configs: no code execution through YAML's tuple-making tags, no alias bomb,
no silently dropped duplicate key. Each config is refused whole, fast, before papermill runs."""

from __future__ import annotations

import resource
import time
from pathlib import Path

import pytest

from nima_utils.cli import main
from nima_utils.pipeline.config import ConfigError, load, parse
from nima_utils.pipeline.safe_yaml import excerpt

HEAD = "run: tiny\nnotebooks:\n  01_ava_download_cleanup:\n    cache_size: 72\n"


def test_pairs_tag_cannot_run_code_in_a_notebook(tmp_path, capsys):
    """papermill writes a tuple into the parameters cell as `str(value)` between quotes: this payload
    closes the quote and calls os.system. It must be refused as a config, never reach notebook 01."""
    marker = tmp_path / "pwned"
    payload = f"'\"+str(__import__(\"os\").system(\"touch {marker}\"))+\"': 1"
    path = tmp_path / "evil.yaml"
    path.write_text(HEAD + f"    data_dir: {tmp_path / 'data'}\n    archive_urls: !!pairs [ {payload} ]\n")
    assert main(["pipeline", str(path), "--reports", str(tmp_path / "reports")]) == 2
    err = capsys.readouterr().err
    assert "archive_urls" in err and "tuple" in err and "Traceback" not in err
    assert not marker.exists() and not (tmp_path / "reports").exists() and not (tmp_path / "data").exists()


@pytest.mark.parametrize(("yaml_value", "words"), [
    ("!!omap [ {a: 1} ]", "tuple"), ("!!set {a: null}", "set"), ("!!binary aGk=", "bytes"),
    ("2024-01-01", "date"), (".nan", "finite"), ("[[1, 2]]", "a list of text"),
])
def test_only_plain_values_pass(tmp_path, yaml_value, words):
    path = tmp_path / "c.yaml"
    path.write_text(HEAD + f"    archive_urls: {yaml_value}\n")
    with pytest.raises(ConfigError, match="archive_urls") as failure:
        load(path)
    assert words in str(failure.value)
    assert parse({"run": "x", "notebooks": {"01_ava_download_cleanup": {"archive_urls": ["a", "b"]}}})


def test_alias_bomb_is_refused_fast_with_a_short_message(tmp_path):
    lines = ["a0: &a0 [xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 9)]
    text = "\n".join(lines) + "\nrun: bomb\nnotebooks: {01_ava_download_cleanup: {archive_urls: *a8}}\n"
    assert len(text) < 600
    path = tmp_path / "bomb.yaml"
    path.write_text(text)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.monotonic()
    with pytest.raises(ConfigError) as failure:
        load(path)
    assert time.monotonic() - start < 2
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 50_000  # KiB: no expansion in memory
    assert "expands to more than" in str(failure.value) and len(str(failure.value)) < 300


def test_quoted_values_are_excerpts():
    huge = ["x" * 1000] * 1000
    with pytest.raises(ConfigError) as failure:
        parse({"run": "y" * 10_000, "notebooks": {"01_ava_download_cleanup": {"cache_size": huge}}})
    assert len(str(failure.value)) < 1000
    loop: list = []
    loop.append(loop)
    assert len(excerpt(loop)) <= 80


@pytest.mark.parametrize("text", [
    "notebooks:\n  01_ava_download_cleanup: {}\n  02_train: {epochs: 1}\n  02_train: {run_name: second}\nrun: a\n",
    "run: a\nnotebooks:\n  01_ava_download_cleanup:\n    limit: 1\n    limit: 2\n",
    "run: a\nrun: b\nnotebooks: {01_ava_download_cleanup: {}}\n",
])
def test_duplicate_keys_are_refused_naming_both_lines(tmp_path, text):
    path = Path(tmp_path / "dup.yaml")
    path.write_text(text)
    with pytest.raises(ConfigError, match=r"is given twice \(lines \d+ and \d+\)"):
        load(path)
    path.write_text("base: &b {limit: 1}\nrun: a\nnotebooks:\n  01_ava_download_cleanup: {<<: *b, limit: 2}\n")
    with pytest.raises(ConfigError, match="unknown key 'base'"):  # merge keys may override: not a duplicate
        load(path)
