// capo view: renders the embedded JSON (capo/view/records.py documents the short keys).
// Only the current page of prompt groups becomes elements; critiques and token heat maps are
// built when opened. Untrusted text (responses, critiques) is inserted with textContent only.
"use strict";
(function () {
  const t0 = performance.now();
  const DATA = JSON.parse(document.getElementById("capo-data").textContent);
  const R = DATA.rollouts, PROBLEMS = DATA.problems;
  const GROUPS_PER_PAGE = 20;
  let page = 0;

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  const fmt = (x, d) => (x === null || x === undefined ? "-" : Number(x).toFixed(d === undefined ? 3 : d));

  // -- derived per-rollout facts, computed once (filters read these) --------------------------
  for (const x of R) {
    const w = x.w || [];
    x.flagged = w.some((v) => v > 0);
    x.correct = x.r !== null && x.r !== undefined && x.r > 0;
    x.unparsable = (x.k || []).some((c) => c[1] === null && !c[3]);
    x.failed = (x.k || []).some((c) => !!c[3]);
  }

  // -- telemetry panel -------------------------------------------------------------------------
  function chart(title, points, key, max) {
    const box = el("div", "chart");
    box.dataset.metric = key;
    box.appendChild(el("h3", null, title));
    const pts = points.filter((p) => typeof p[key] === "number");
    const W = 180, H = 50, P = 4;
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("width", W);
    svg.setAttribute("height", H);
    if (pts.length) {
      const xs = pts.map((p, i) => (typeof p.step === "number" ? p.step : i));
      const x0 = Math.min(...xs), x1 = Math.max(...xs);
      const top = max !== undefined ? max : Math.max(1e-9, ...pts.map((p) => p[key]));
      const sx = (v) => (x1 === x0 ? W / 2 : P + ((v - x0) / (x1 - x0)) * (W - 2 * P));
      const sy = (v) => H - P - (Math.min(v, top) / top) * (H - 2 * P);
      const line = document.createElementNS(ns, "polyline");
      line.setAttribute("points", pts.map((p, i) => sx(xs[i]) + "," + sy(p[key])).join(" "));
      line.setAttribute("fill", "none");
      line.setAttribute("stroke", "#1a73e8");
      line.setAttribute("stroke-width", "1.5");
      svg.appendChild(line);
      if (pts.length === 1) {
        const dot = document.createElementNS(ns, "circle");
        dot.setAttribute("cx", sx(xs[0]));
        dot.setAttribute("cy", sy(pts[0][key]));
        dot.setAttribute("r", 3);
        dot.setAttribute("fill", "#1a73e8");
        svg.appendChild(dot);
      }
    }
    box.appendChild(svg);
    const last = pts.length ? pts[pts.length - 1][key] : null;
    box.appendChild(el("div", "last", pts.length ? "last " + fmt(last) + " (" + pts.length + " steps)" : "no data"));
    return box;
  }
  const tel = document.getElementById("telemetry");
  tel.appendChild(chart("flagged-step rate", DATA.telemetry, "flag", 1));
  tel.appendChild(chart("vote agreement", DATA.telemetry, "agree", 1));
  tel.appendChild(chart("unparsable critiques", DATA.telemetry, "parse"));
  tel.appendChild(chart("judge failures", DATA.telemetry, "fail"));
  tel.appendChild(chart("accuracy (r_v)", DATA.telemetry, "accuracy", 1));

  // -- filters ---------------------------------------------------------------------------------
  const $ = (id) => document.getElementById(id);
  const steps = [...new Set(R.map((x) => x.s).filter((s) => s !== null && s !== undefined))].sort((a, b) => a - b);
  for (const s of steps) {
    const o = el("option", null, "step " + s);
    o.value = String(s);
    $("filter-step").appendChild(o);
  }
  if (!steps.length) $("filter-step").disabled = true;

  function passes(x, f) {
    if (f.flagged && !x.flagged) return false;
    if (f.correctFlagged && !(x.correct && x.flagged)) return false;
    if (f.unparsable && !x.unparsable) return false;
    if (f.failures && !x.failed) return false;
    if (f.step !== "" && String(x.s) !== f.step) return false;
    if (f.text) {
      const prob = PROBLEMS[x.p][0];
      if (x.t.toLowerCase().indexOf(f.text) < 0 && prob.toLowerCase().indexOf(f.text) < 0) return false;
    }
    return true;
  }

  let groups = []; // [[group key, [rollout indices]]] that pass the filters, in input order
  function applyFilters() {
    const f = {
      flagged: $("filter-flagged").checked, correctFlagged: $("filter-correct-flagged").checked,
      unparsable: $("filter-unparsable").checked, failures: $("filter-failures").checked,
      step: $("filter-step").value, text: $("filter-text").value.trim().toLowerCase(),
    };
    const byKey = new Map();
    let n = 0;
    for (let i = 0; i < R.length; i++) {
      if (!passes(R[i], f)) continue;
      n++;
      const k = R[i].g;
      if (!byKey.has(k)) byKey.set(k, []);
      byKey.get(k).push(i);
    }
    groups = [...byKey.entries()];
    $("shown-count").textContent = n + " of " + R.length + " rollouts, " + groups.length + " groups";
    $("shown-count").dataset.shown = String(n);
    page = 0;
    render();
  }
  for (const id of ["filter-flagged", "filter-correct-flagged", "filter-unparsable", "filter-failures", "filter-step"])
    $(id).addEventListener("change", applyFilters);
  let typing = null;
  $("filter-text").addEventListener("input", () => { clearTimeout(typing); typing = setTimeout(applyFilters, 200); });

  // -- one rollout -----------------------------------------------------------------------------
  function voteColour(share) { // grey when no critique flags the step, then light -> full red with c_j / V
    return share > 0 ? "rgba(220, 38, 38, " + (0.12 + 0.5 * share).toFixed(3) + ")" : "rgba(0, 0, 0, 0.04)";
  }
  function advColour(v, scale) {
    const a = Math.min(1, Math.abs(v) / scale);
    return v >= 0 ? "rgba(26, 115, 232, " + (0.6 * a).toFixed(3) + ")" : "rgba(220, 38, 38, " + (0.6 * a).toFixed(3) + ")";
  }

  function responseWithSteps(x) {
    const cps = Array.from(x.t); // step spans count code points, as Python does
    const box = el("div", "response");
    let cursor = 0;
    x.sp.forEach((span, j) => {
      if (span[0] > cursor) box.appendChild(el("span", "gap", cps.slice(cursor, span[0]).join("")));
      const s = el("span", "step", cps.slice(span[0], span[1]).join(""));
      s.dataset.step = String(j);
      if (x.j && x.V) {
        const c = x.c ? x.c[j] : 0;
        s.style.background = voteColour(c / x.V);
        s.title = "step " + j + ": flagged by " + c + " of " + x.V + " parsed critiques";
        if (x.w && x.w[j] > 0) s.classList.add("wrong");
        s.appendChild(el("span", "badge", c + "/" + x.V));
      } else {
        s.style.background = "rgba(0, 0, 0, 0.04)";
        s.title = "step " + j + (x.j ? ": no parsed critique" : ": not judged");
      }
      box.appendChild(s);
      cursor = Math.max(cursor, span[1]);
    });
    if (cursor < cps.length) box.appendChild(el("span", "gap", cps.slice(cursor).join("")));
    return box;
  }

  function critiquesBox(x) {
    const box = el("div", "critiques");
    (x.k || []).forEach((c, i) => {
      const kind = c[3] ? "failed" : c[1] === null ? "unparsable" : "parsed";
      const d = el("div", "critique " + kind);
      const verdict = c[3] ? "judge failure: " + c[3] : c[1] === null ? "unparsable" :
        (c[1].length ? "wrong steps [" + c[1].join(", ") + "]" : "no wrong step");
      d.appendChild(el("div", "verdict", "critique " + (i + 1) + ": " + verdict +
        (typeof c[2] === "number" ? " | " + c[2].toFixed(3) + " s" : "") + (c[4] ? " | cached" : "")));
      d.appendChild(el("pre", null, c[0]));
      box.appendChild(d);
    });
    if (!(x.k || []).length) box.appendChild(el("div", "critique", "no critique (no step to judge)"));
    return box;
  }

  function heatBox(x) {
    const box = el("div");
    const values = [];
    for (const [v, n] of x.ad) for (let i = 0; i < n; i++) values.push(v);
    const scale = Math.max(1e-9, ...values.map(Math.abs));
    const heat = el("div", "heat");
    const cps = Array.from(x.t);
    let cursor = 0;
    (x.tc || []).forEach((n, i) => {
      const s = el("span", null, cps.slice(cursor, cursor + n).join(""));
      cursor += n;
      const v = values[i] !== undefined ? values[i] : 0;
      s.style.background = advColour(v, scale);
      s.title = "token " + i + ": advantage " + v;
      heat.appendChild(s);
    });
    box.appendChild(heat);
    const mean = values.length ? values.reduce((a, b) => a + b, 0) / values.length : 0;
    box.appendChild(el("div", "legend", "token advantages: blue > 0, red < 0, max |A| = " + fmt(scale) +
      ", mean " + fmt(mean) + " over " + values.length + " tokens"));
    return box;
  }

  function toggle(button, parent, build, label) {
    let panel = null;
    button.addEventListener("click", () => {
      if (panel) { panel.remove(); panel = null; button.textContent = "show " + label; return; }
      panel = build();
      parent.appendChild(panel);
      button.textContent = "hide " + label;
    });
  }

  function rolloutBox(x) {
    const box = el("div", "rollout");
    const head = el("div", "head");
    head.appendChild(x.r === null || x.r === undefined ? el("span", null, "r_v ?") :
      el("span", x.correct ? "ok" : "bad", x.correct ? "r_v = 1 (correct)" : "r_v = " + x.r + " (wrong)"));
    if (x.j) {
      head.appendChild(el("span", null, "V/N = " + (x.V || 0) + "/" + (x.N || 0)));
      const wrong = (x.w || []).map((v, j) => (v > 0 ? j : -1)).filter((j) => j >= 0);
      head.appendChild(el("span", wrong.length ? "bad" : null, "voted wrong steps: " + (wrong.length ? "[" + wrong.join(", ") + "]" : "none")));
      if (x.unparsable) head.appendChild(el("span", "bad", "unparsable critique"));
      if (x.failed) head.appendChild(el("span", "bad", "judge failure"));
    } else head.appendChild(el("span", null, "not judged"));
    const body = el("div");
    if (x.j) {
      const b = el("button", "show-critiques", "show critiques (" + (x.k || []).length + ")");
      toggle(b, body, () => critiquesBox(x), "critiques (" + (x.k || []).length + ")");
      head.appendChild(b);
    }
    if (x.ad) {
      const b = el("button", "show-advantages", "show token advantages");
      toggle(b, body, () => heatBox(x), "token advantages");
      head.appendChild(b);
    }
    box.appendChild(head);
    box.appendChild(responseWithSteps(x));
    box.appendChild(body);
    return box;
  }

  // -- the page --------------------------------------------------------------------------------
  function pager(nav) {
    nav.textContent = "";
    const pages = Math.max(1, Math.ceil(groups.length / GROUPS_PER_PAGE));
    const prev = el("button", "prev", "< previous");
    prev.disabled = page === 0;
    prev.addEventListener("click", () => { page--; render(); window.scrollTo(0, 0); });
    const next = el("button", "next", "next >");
    next.disabled = page >= pages - 1;
    next.addEventListener("click", () => { page++; render(); window.scrollTo(0, 0); });
    nav.appendChild(prev);
    nav.appendChild(el("span", "page-of", "page " + (page + 1) + " of " + pages));
    nav.appendChild(next);
  }

  function render() {
    const main = $("groups");
    main.textContent = "";
    const slice = groups.slice(page * GROUPS_PER_PAGE, (page + 1) * GROUPS_PER_PAGE);
    if (!slice.length) main.appendChild(el("div", "empty", "no rollout matches the filters"));
    for (const [key, idx] of slice) {
      const first = R[idx[0]];
      const g = el("div", "group");
      g.dataset.group = key;
      const prob = PROBLEMS[first.p];
      g.appendChild(el("div", "problem", prob[0]));
      g.appendChild(el("div", "meta", (first.s !== null && first.s !== undefined ? "step " + first.s + " | " : "") +
        "reference " + (prob[1] === null ? "-" : prob[1]) + " | " + idx.length + " of " + (GROUP_SIZE.get(key) || idx.length) + " responses shown"));
      for (const i of idx) g.appendChild(rolloutBox(R[i]));
      main.appendChild(g);
    }
    pager($("pager-top"));
    pager($("pager-bottom"));
  }

  const GROUP_SIZE = new Map();
  for (const x of R) GROUP_SIZE.set(x.g, (GROUP_SIZE.get(x.g) || 0) + 1);
  const nJudged = R.filter((x) => x.j).length;
  $("summary").textContent = R.length + " rollouts in " + GROUP_SIZE.size + " groups" +
    (steps.length ? " over " + steps.length + " training steps" : "") + ", " + nJudged + " judged, " +
    R.filter((x) => x.flagged).length + " with voted wrong steps (source: " + DATA.source + ")";
  applyFilters();
  // readyAtMs: from the navigation's start (performance.now()'s origin) to the first page on screen
  window.capoView = { ready: true, rollouts: R.length, renderMs: performance.now() - t0, readyAtMs: performance.now() };
  document.body.dataset.ready = "1";
})();
