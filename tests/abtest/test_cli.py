"""``mtforge ab simulate`` and ``mtforge ab analyze``, through a parser built with add_parsers."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from mtforge.abtest.cli import add_parsers
from mtforge.abtest.store import EventStore
from mtforge.errors import InputNotFoundError


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="mtforge")
    add_parsers(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def test_simulate_then_analyze_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "runs" / "ab.db"
    assert main(["ab", "simulate", "--store", str(store), "--experiment", "cli-exp", "--share-b", "0.5",
                 "--posts", "600", "--users", "3000", "--days", "29", "--engagement-a", "1.0",
                 "--engagement-b", "2.0", "--click-rate", "0.5", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    with EventStore(store) as s:
        n = len(list(s.events()))
    assert f"logged {n:,} events for 600 posts to {store}" in out
    assert main(["ab", "analyze", "--store", str(store), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["decision"] == "adopt B"
    assert report["p_value_b_greater"] < 0.01
    assert report["variants"]["A"]["posts"] + report["variants"]["B"]["posts"] == 600
    assert report["window_days"] == 30.0 and report["alpha"] == 0.05 and report["min_posts"] == 20


def test_analyze_prints_markdown_and_exits_zero_whatever_the_decision(tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    store = str(tmp_path / "ab.db")
    main(["ab", "simulate", "--store", store, "--posts", "30", "--days", "2"])
    capsys.readouterr()
    assert main(["ab", "analyze", "--store", store, "--min-posts", "1000", "--window-days", "3"]) == 0
    out = capsys.readouterr().out
    assert "| Translate clicks |" in out and "**Decision: not enough data**" in out


def test_analyze_of_a_missing_store_names_it_and_creates_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "nope.db"
    with pytest.raises(InputNotFoundError, match="nope.db"):
        main(["ab", "analyze", "--store", str(missing)])
    assert not missing.exists()


def test_ab_needs_a_subcommand() -> None:
    with pytest.raises(SystemExit):
        main(["ab"])
