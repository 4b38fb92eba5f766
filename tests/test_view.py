"""`capo view` without a browser: the rollout record a real tiny run writes (sampling rate, size),
the page's data and its escaping, and the one-line errors. tests/test_view_browser.py renders it."""

from __future__ import annotations

import json

import pytest
from test_train_e2e import make_boxer, train_args, write_data

from capo.cli import main as capo_main
from capo.train.rollouts import expand_runs, run_lengths
from capo.view.page import embed_json, render
from capo.view.records import load


def test_run_lengths_round_trip():
    values = [1.5, 1.5, 1.5004, -0.25, -0.25, 0.0, -0.0, 2.0]
    runs = run_lengths(values)
    assert runs == [[1.5, 3], [-0.25, 2], [0.0, 2], [2.0, 1]]
    assert expand_runs(runs) == [1.5, 1.5, 1.5, -0.25, -0.25, 0.0, 0.0, 2.0]


def test_embedded_json_cannot_close_the_script_element():
    data = {"title": "<b>t</b>", "source": "critiques", "problems": [["p </script><script>x()</script>", None]],
            "rollouts": [{"t": "a\u2028b </SCRIPT>", "s": None, "g": "g", "p": 0, "sp": [], "j": False, "r": None}],
            "telemetry": []}
    text = embed_json(data)
    assert "<" not in text and "\u2028" not in text
    assert json.loads(text) == data
    page = render(data)
    assert page.count("</script>") == 2  # the data block's and the code's own, nothing from the data
    assert "<title>&lt;b&gt;t&lt;/b&gt;</title>" in page


def test_sampling_rate_and_bytes_per_step_of_a_real_run(tiny_model_dir, tmp_path):
    boxer = make_boxer(tiny_model_dir, tmp_path / "boxer")
    data = write_data(tmp_path / "train.jsonl")
    run = tmp_path / "run"
    assert capo_main(train_args(boxer, data, run, "--no-eval", "run.rollout_groups=1", "run.rollouts_every=2",
                                steps=4)) == 0
    rows = [json.loads(x) for x in (run / "rollouts.jsonl").read_text().splitlines()]
    assert sorted({r["step"] for r in rows}) == [2, 4]  # every 2nd step
    assert all(len([r for r in rows if r["step"] == s]) == 4 for s in (2, 4))  # one group of G = 4
    for r in rows:
        assert sum(r["token_chars"]) == len(r["text"])  # tokens tile the text
        assert sum(n for _, n in r["advantages"]) == len(r["token_chars"])
        assert len(r["counts"]) == len(r["steps"]) == len(r["weights"]) and r["N"] == 2 == len(r["critiques"])
        assert all(r["text"][a:b].strip() for a, b in r["steps"])
    per_step = (run / "rollouts.jsonl").stat().st_size / 2
    assert per_step < 6000, f"{per_step:.0f} bytes per recorded step for 4 short responses"
    page = load(run)
    assert len(page["rollouts"]) == len(rows) and [p["step"] for p in page["telemetry"]] == [1, 2, 3, 4]
    assert "capo" in page["title"] and "calculator" in page["title"]


def test_errors_are_one_line_exit_2(tmp_path, capsys):
    assert capo_main(["view", str(tmp_path / "missing")]) == 2
    assert "no such run directory or file" in capsys.readouterr().err
    assert capo_main(["view", str(tmp_path)]) == 2
    assert "no rollouts.jsonl" in capsys.readouterr().err
    other = tmp_path / "other.jsonl"
    other.write_text(json.dumps({"problem": "p", "answer": "1"}) + "\n")
    assert capo_main(["view", str(other)]) == 2
    assert "not a `capo critique` output row" in capsys.readouterr().err
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{not json\n")
    assert capo_main(["view", str(bad)]) == 2
    assert "bad.jsonl:1: invalid JSON" in capsys.readouterr().err
    assert capo_main(["view", str(other), "-o", str(tmp_path / "no" / "x.html")]) == 2
    assert "no such folder" in capsys.readouterr().err
