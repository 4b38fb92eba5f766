"""The HTML page of `capo view`: one file, no server, no network.

The CSS and JS (assets/) are inlined; the data is embedded once as JSON in a
`<script type="application/json">` block, parsed on load, and only the current page of prompt
groups is turned into elements (critiques and token heat maps only when opened), so 10 000
rollouts open in about a second (benchmarks/bench_view_load.py).

Every `<` in the JSON is written as \\u003c: student text and critiques are untrusted and must not
be able to close the script element; the page inserts them as text, never as markup.
"""

from __future__ import annotations

import html
import json
from importlib import resources

TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
{css}
</style>
</head>
<body>
<header>
  <h1>{title}</h1>
  <p class="sub" id="summary"></p>
</header>
<section id="telemetry" aria-label="per-step judge telemetry"></section>
<section id="filters" aria-label="filters">
  <label><input type="checkbox" id="filter-flagged"> flagged only</label>
  <label><input type="checkbox" id="filter-correct-flagged"> correct answer, flagged steps</label>
  <label><input type="checkbox" id="filter-unparsable"> unparsable critiques</label>
  <label><input type="checkbox" id="filter-failures"> judge failures</label>
  <label>step <select id="filter-step"><option value="">all</option></select></label>
  <label>search <input type="search" id="filter-text" placeholder="text in problem or response"></label>
  <span id="shown-count"></span>
</section>
<nav class="pager" id="pager-top"></nav>
<main id="groups"></main>
<nav class="pager" id="pager-bottom"></nav>
<footer>capo view: steps are coloured by c<sub>j</sub>/V (the share of parsed critiques that flag them);
a red outline marks the steps the vote flags. r<sub>v</sub> is the verifier's outcome.</footer>
<script id="capo-data" type="application/json">{data}</script>
<script>
{js}
</script>
</body>
</html>
"""


def _asset(name: str) -> str:
    return resources.files("capo.view").joinpath("assets", name).read_text(encoding="utf-8")


def embed_json(data) -> str:
    """JSON that is safe inside a script element: no `<` (so no `</script>`), no stray U+2028/9."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def render(data: dict) -> str:
    return TEMPLATE.format(title=html.escape(data["title"]), css=_asset("viewer.css"), js=_asset("viewer.js"),
                           data=embed_json(data))
