"""The screenshot of `capo view` in the README (docs/img/view.png), reproducibly.

    python benchmarks/view_screenshot.py [-o docs/img/view.png]

Hand-written arithmetic solutions, critiqued by the calculator judge with `capo critique
--tokenizer` (the tiny test tokenizer, for the token advantages), one critique made unparsable as
an LLM judge's can be; the page is opened in headless chromium (scripts/setup-browser.sh) with
the first response's critiques and token heat map open.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

PROBLEM = "Tom has 12 apples. He buys 3 bags of 4 apples and gives 5 away. How many apples does he have?"
RESPONSES = [
    "He buys 3 * 4 = 12 apples.\n\nNow he has 12 + 12 = 25 apples.\n\nAfter giving 5 away: 25 - 5 = 20.\n\n"
    "The answer is \\boxed{20}.",
    "He buys 3 * 4 = 12 apples.\n\nNow he has 12 + 12 = 24 apples.\n\nAfter giving 5 away: 24 - 5 = 19.\n\n"
    "The answer is \\boxed{19}.",
    "3 bags of 4 is 3 * 4 = 14.\n\nSo 12 + 14 = 26, and 26 - 5 = 21.\n\nThe answer is \\boxed{21}.",
    "Tom ends with 12 + 3 * 4 - 5 = 19 apples.\n\nThe answer is \\boxed{19}.",
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-o", "--output", default=str(ROOT / "docs" / "img" / "view.png"))
    args = parser.parse_args()
    from support import TEST_MODELS, TINY_NAME, TINY_SETTINGS
    from support.browser import console_errors, headless_chromium, open_page

    from capo.cli import main as capo_main
    from capo.models.tiny import build_tiny_model

    tiny = build_tiny_model(TEST_MODELS / TINY_NAME, **TINY_SETTINGS)
    with tempfile.TemporaryDirectory() as tmp:
        src, out, page = Path(tmp) / "in.jsonl", Path(tmp) / "critiques.jsonl", Path(tmp) / "view.html"
        src.write_text("".join(json.dumps({"problem": PROBLEM, "reference": "19", "response": r, "group": 0}) + "\n"
                               for r in RESPONSES))
        assert capo_main(["critique", "--judge", "calculator", "--n", "4", "--no-progress", "--tokenizer", str(tiny),
                          str(src), "-o", str(out)]) == 0
        rows = [json.loads(x) for x in out.read_text().splitlines()]
        rows[2]["critiques"][3].update(text="The student's work looks reasonable overall.", wrong_steps=None)
        out.write_text("".join(json.dumps(r) + "\n" for r in rows))
        assert capo_main(["view", str(out), "-o", str(page)]) == 0
        driver = headless_chromium(1200, 1250)
        try:
            open_page(driver, page)
            for selector in (".show-critiques", ".show-advantages"):
                driver.find_element("css selector", selector).click()
            assert not console_errors(driver), console_errors(driver)
            driver.save_screenshot(args.output)
        finally:
            driver.quit()
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
