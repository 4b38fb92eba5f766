"""`capo view` in a real browser: headless Debian chromium driven by selenium (tests/support/browser.py;
installed by scripts/setup-browser.sh, which scripts/test.sh runs: a missing browser fails here,
it is not skipped).

The pages come from real runs: a 3-step `capo train` of the tiny test policy with the calculator
judge (it writes "1 + 1 = 3" often enough for the judge to flag steps), and `capo critique` with
the calculator on hand-written responses, to which a copy with an unparsable critique, a judge
failure and a response that tries to close the page's script element are added.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.browser import console_errors, headless_chromium, open_page
from test_train_e2e import make_boxer, train_args, write_data

from capo.cli import main as capo_main


@pytest.fixture(scope="module")
def view_run(tiny_model_dir, tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("view")
    boxer = make_boxer(tiny_model_dir, base / "boxer")
    data = write_data(base / "train.jsonl")
    run = base / "run"
    assert capo_main(train_args(boxer, data, run, "--no-eval", "run.rollout_groups=2", steps=3)) == 0
    return run


@pytest.fixture(scope="module")
def browser():
    try:
        driver = headless_chromium()
    except RuntimeError as err:  # not installed: a failure with the install command, never a skip
        pytest.fail(str(err))
    yield driver
    driver.quit()


def shown(driver) -> int:
    return int(driver.execute_script("return document.getElementById('shown-count').dataset.shown"))


def count(driver, selector: str) -> int:
    return driver.execute_script(f"return document.querySelectorAll({selector!r}).length")


def click(driver, selector: str) -> None:
    driver.find_element("css selector", selector).click()


def test_run_page_steps_critiques_filters_heat_map(view_run, browser, tmp_path):
    rows = [json.loads(x) for x in (view_run / "rollouts.jsonl").read_text().splitlines()]
    flagged = sum(1 for r in rows if any(w > 0 for w in r.get("weights", [])))
    assert 0 < flagged < len(rows), "the run must hold flagged and clean responses for the filter to show anything"
    assert capo_main(["view", str(view_run)]) == 0
    page = view_run / "view.html"
    open_page(browser, page)
    assert console_errors(browser) == []
    assert shown(browser) == len(rows)
    assert count(browser, ".rollout") == len(rows)  # 6 groups fit on the first page
    assert count(browser, ".step") == sum(len(r["steps"]) for r in rows)
    assert count(browser, ".step.wrong") == sum(sum(w > 0 for w in r["weights"]) for r in rows)
    assert count(browser, "#telemetry .chart svg polyline") == 5  # flag rate, agreement, parse, failures, accuracy

    # the raw critiques of the first response, built when opened
    assert count(browser, ".critique") == 0
    click(browser, ".show-critiques")
    assert count(browser, ".critique") == rows[0]["N"]
    texts = browser.execute_script("return [...document.querySelectorAll('.critique pre')].map(e => e.textContent)")
    assert texts == [c["text"] for c in rows[0]["critiques"]]

    # the token heat map: one span per token, coloured by its advantage
    click(browser, ".show-advantages")
    assert count(browser, ".heat span") == len(rows[0]["token_chars"])

    # a filter click changes what is shown: only the flagged responses remain, each with a wrong step
    click(browser, "#filter-flagged")
    assert shown(browser) == flagged
    assert count(browser, ".rollout") == flagged
    assert browser.execute_script(
        "return [...document.querySelectorAll('.rollout')].every(r => r.querySelector('.step.wrong'))")
    click(browser, "#filter-flagged")
    assert shown(browser) == len(rows)
    # by training step
    browser.execute_script("const s = document.getElementById('filter-step'); s.value = '2';"
                           "s.dispatchEvent(new Event('change'))")
    assert shown(browser) == sum(1 for r in rows if r["step"] == 2)
    assert console_errors(browser) == []
    shot = tmp_path / "view.png"
    assert browser.save_screenshot(str(shot))
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000


RESPONSES = [
    ("Tom has 3 apples and buys 4 more. How many apples does he have?", "7",
     "Tom starts with 3 apples.\n\nHe buys 4 more: 3 + 4 = 8.\n\nThe answer is \\boxed{8}."),
    ("Tom has 3 apples and buys 4 more. How many apples does he have?", "7",
     "3 + 4 = 7\n\nThe answer is \\boxed{7}."),
    ("A box holds 6 eggs. How many eggs are in 5 boxes?", "30",
     "5 * 6 = 30\n\nSo 30 eggs. </script><script>window.pwned = 1</script>\n\n\\boxed{30}"),
]


def test_critiques_page_unparsable_failures_and_untrusted_text(tiny_model_dir, browser, tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"problem": p, "reference": a, "response": r, "group": p[:8]}) + "\n"
                           for p, a, r in RESPONSES))
    out = tmp_path / "critiques.jsonl"
    assert capo_main(["critique", "--judge", "calculator", "--n", "2", "--no-progress", "--tokenizer",
                      str(tiny_model_dir), str(src), "-o", str(out)]) == 0
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    # one more row as a real LLM judge can return it: one critique unparsable, one failed
    odd = dict(rows[1], group="other")
    odd["critiques"] = [dict(odd["critiques"][0], text="I think it is fine.", wrong_steps=None),
                        dict(odd["critiques"][1], text="", wrong_steps=None, error="timeout")]
    with out.open("a") as f:
        f.write(json.dumps(odd) + "\n")

    page = tmp_path / "critiques.html"
    assert capo_main(["view", str(out), "-o", str(page)]) == 0
    open_page(browser, page)
    assert console_errors(browser) == []
    assert shown(browser) == 4
    assert browser.execute_script("return window.pwned === undefined")  # the student's script stayed text
    assert "</script><script>window.pwned = 1</script>" in browser.find_element("css selector", "#groups").text
    assert count(browser, ".step.wrong") >= 1  # "3 + 4 = 8" is flagged by the calculator
    click(browser, "#filter-unparsable")
    assert shown(browser) == 1
    click(browser, ".show-critiques")
    verdicts = browser.execute_script("return [...document.querySelectorAll('.critique .verdict')].map(e => e.textContent)")
    assert "unparsable" in verdicts[0] and "judge failure: timeout" in verdicts[1]
    click(browser, "#filter-unparsable")
    click(browser, "#filter-failures")
    assert shown(browser) == 1
    click(browser, "#filter-failures")
    click(browser, "#filter-correct-flagged")
    assert shown(browser) == 0  # the calculator flags only the wrong answer's step
    assert "no rollout matches" in browser.find_element("css selector", "#groups").text
    assert console_errors(browser) == []
