// Gantry admin dashboard: polls this admin server's JSON endpoints once a second and
// renders them as tables, then the same of each peer admin server, which this admin
// server fetches for the page (_/peers/<name>). Read-only; no third-party code.
"use strict";

(function () {
  const body = document.body;
  // Resilience first: it is what an operator looks at during an incident.
  const order = (names) => names.slice().sort((a, b) => (a === "resilience" ? -1 : b === "resilience" ? 1 : a.localeCompare(b)));
  const sources = order((body.dataset.sources || "").split(",").filter(Boolean));
  const health = body.dataset.health === "true";
  const peers = (body.dataset.peers || "").split(",").filter(Boolean);
  const main = document.getElementById("sections");
  const updated = document.getElementById("updated");

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") e.className = v;
      else e.setAttribute(k, v);
    }
    for (const c of children) e.append(c instanceof Node ? c : String(c ?? ""));
    return e;
  }

  function num(v, digits) {
    if (typeof v !== "number") return v ?? "";
    return digits === undefined ? String(v) : v.toFixed(digits);
  }

  // table renders rows (objects) with the given columns: [key, label, format?, rowAttrs?].
  function table(rows, cols, rowAttrs) {
    const head = el("tr", {}, ...cols.map(([, label]) => el("th", {}, label)));
    const t = el("table", {}, el("thead", {}, head));
    const tb = el("tbody");
    for (const r of rows || []) {
      const tr = el("tr", rowAttrs ? rowAttrs(r) : {});
      for (const [key, , fmt] of cols) {
        const v = r[key];
        const cell = fmt ? fmt(v, r) : num(v);
        tr.append(cell instanceof Node ? el("td", {}, cell) : el("td", {}, cell));
      }
      tb.append(tr);
    }
    t.append(tb);
    return t;
  }

  function section(id) {
    let s = document.getElementById(id);
    if (!s) {
      s = el("section", { id });
      main.append(s);
    }
    s.replaceChildren();
    return s;
  }

  const state = (v) => el("span", { class: "state-" + v }, v);
  const ms = (v) => (typeof v === "number" && v > 0 ? (v / 1000).toFixed(1) + " s" : "");

  // Each renderer appends to s, with headings of tag h (h2 for this service, h3 in a
  // peer's section).
  function renderResilience(s, d, h = "h2") {
    s.append(el(h, {}, "Breakers"));
    s.append(table(d.breakers, [
      ["name", "name"], ["state", "state", state], ["half_open_in_ms", "probes in", ms],
      ["requests", "requests"], ["failures", "failures"], ["consecutive_failures", "in a row"],
      ["opens", "opens"], ["rejected", "rejected"],
    ], (r) => ({ "data-breaker": r.name, "data-state": r.state })));
    if ((d.limiters || []).length) {
      s.append(el(h, {}, "Rate limiters"));
      s.append(table(d.limiters, [["name", "name"], ["rate", "rate/s"], ["burst", "burst"],
        ["key_rate", "per key/s"], ["keys", "keys"], ["rejected", "rejected"]], (r) => ({ "data-limiter": r.name })));
    }
    if ((d.budgets || []).length) {
      s.append(el(h, {}, "Retry budgets"));
      s.append(table(d.budgets, [["name", "name"], ["available_retries", "available", (v) => num(v, 1)],
        ["ratio", "ratio"], ["requests", "requests"], ["retries", "retries"], ["denied", "denied"]],
      (r) => ({ "data-budget": r.name })));
    }
    if ((d.bulkheads || []).length) {
      s.append(el(h, {}, "Bulkheads"));
      s.append(table(d.bulkheads, [["name", "name"], ["key", "key"], ["in_flight", "in flight"],
        ["max_concurrent", "max"], ["queued", "queued"], ["rejected", "rejected"]]));
    }
    if ((d.shedders || []).length) {
      s.append(el(h, {}, "Load shedding"));
      s.append(table(d.shedders, [["name", "name"], ["limit", "limit"], ["in_flight", "in flight"],
        ["no_load_rtt_ms", "no-load RTT ms", (v) => num(v, 2)], ["shed", "shed"]],
      (r) => ({ "data-shedder": r.name })));
    }
  }

  function renderDiscovery(s, d, h = "h2") {
    for (const svc of d.services || []) {
      s.append(el(h, {}, "Discovery: " + svc.service));
      const endpoints = svc.endpoints || [];
      const byAddr = Object.fromEntries(endpoints.map((e) => [e.address, e]));
      const rows = (svc.instances || []).map((i) => Object.assign({}, i, byAddr[i.address] || {}));
      s.append(table(rows, [
        ["address", "instance"],
        ["ejected", "state", (v) => el("span", { class: v ? "ejected" : "up" }, v ? "ejected" : "up")],
        ["latency_ewma_ms", "EWMA ms", (v) => num(v, 2)], ["in_flight", "in flight"],
        ["ejections", "ejections"], ["weight", "weight", (v) => num(v, 2)],
      ], (r) => ({ "data-instance": svc.service + " " + r.address })));
      if (svc.error) s.append(el("p", { class: "error" }, svc.error));
    }
  }

  function renderHealth(s, d, h = "h2") {
    s.append(el(h, {}, "Readiness: ", el("span", { class: "status-" + d.status }, d.status)));
    s.append(table(d.checks, [["name", "check"], ["status", "status", (v) => el("span", { class: "status-" + v }, v)],
      ["error", "error"], ["last_checked", "checked"]]));
  }

  const renderers = { resilience: renderResilience, discovery: renderDiscovery };
  function render(s, name, d, h = "h2") {
    (renderers[name] || ((s, d) => { s.append(el(h, {}, name), el("pre", {}, JSON.stringify(d, null, 2))); }))(s, d, h);
  }

  // One section per source, in a fixed order, whatever order the answers arrive in.
  for (const name of sources) main.append(el("section", { id: "src-" + name }));
  if (health) main.append(el("section", { id: "src-readyz" }));
  for (const name of peers) main.append(el("section", { id: "peer-" + name, class: "peer" }));

  async function load(url) {
    const resp = await fetch(url, { cache: "no-store", headers: { Accept: "application/json" } });
    const text = await resp.text();
    try {
      return JSON.parse(text);
    } catch (e) {
      throw new Error(url + ": " + resp.status);
    }
  }

  async function tick() {
    const jobs = sources.map(async (name) => {
      const s = section("src-" + name);
      try {
        render(s, name, await load(name));
      } catch (e) {
        s.append(el("h2", {}, name), el("p", { class: "error" }, String(e.message || e)));
      }
    });
    if (health) {
      jobs.push((async () => {
        const s = section("src-readyz");
        try { renderHealth(s, await load("../readyz")); } catch (e) { s.append(el("p", { class: "error" }, String(e))); }
      })());
    }
    await Promise.all(jobs);
    updated.textContent = "updated " + new Date().toLocaleTimeString();
    body.dataset.ticks = String(Number(body.dataset.ticks || 0) + 1);
  }

  // A peer's section: its own sources and readiness as this admin server read them
  // just now, or the error that kept it from reading them.
  async function peerTick(name) {
    let d;
    try {
      d = await load("_/peers/" + encodeURIComponent(name));
    } catch (e) {
      d = { name, error: String(e.message || e) };
    }
    const s = section("peer-" + name);
    s.append(el("h2", { class: "peer-name" }, d.title || name, " ", el("span", { class: "muted" }, d.url || "")));
    if (d.error) s.append(el("p", { class: "error" }, d.error));
    const errors = d.errors || {};
    for (const src of order(d.sources || [])) {
      const sub = el("div", { "data-source": src });
      if (errors[src]) sub.append(el("h3", {}, src), el("p", { class: "error" }, errors[src]));
      else render(sub, src, (d.data || {})[src], "h3");
      s.append(sub);
    }
    if (d.readyz) {
      const sub = el("div", { "data-source": "readyz" });
      renderHealth(sub, d.readyz, "h3");
      s.append(sub);
    } else if (errors.readyz) {
      s.append(el("h3", {}, "Readiness"), el("p", { class: "error" }, errors.readyz));
    }
    s.dataset.ticks = String(Number(s.dataset.ticks || 0) + 1);
  }

  async function loop() {
    await tick();
    setTimeout(loop, 1000);
  }
  loop();
  // Each peer on its own loop: a slow one never holds the others back.
  for (const name of peers) {
    const peerLoop = async () => {
      await peerTick(name);
      setTimeout(peerLoop, 1000);
    };
    peerLoop();
  }
})();
