// Is the background keeping up? GET /stats, polled every few seconds: queue depth,
// lag, retries and dead letters, layer timings, and throughput measured between polls.

import { api } from "../api.js";
import { errorBox } from "../components.js";
import { h, replace, s } from "../dom.js";

const EVERY_MS = 2000;
const HISTORY = 60; // samples kept for the sparklines (two minutes)

function seconds(value) {
  if (value === null || value === undefined) return "none pending";
  if (value < 60) return `${value.toFixed(1)} s`;
  return `${Math.floor(value / 60)} min ${Math.round(value % 60)} s`;
}

const number = (value, digits = 0) =>
  value === null || value === undefined || Number.isNaN(value) ? "—" : Number(value).toFixed(digits);

/** Per-second rate of a counter between the last two samples (null until there are two). */
function rate(samples, read) {
  if (samples.length < 2) return null;
  const [a, b] = samples.slice(-2);
  const change = read(b.stats) - read(a.stats);
  return change < 0 ? null : change / ((b.at - a.at) / 1000); // a counter that fell was reset
}

/** A line of the recent values, newest at the right edge. */
function sparkline(values, label) {
  const w = 200;
  const hgt = 40;
  const top = Math.max(1, ...values.filter((v) => v !== null));
  const step = w / (Math.min(HISTORY, Math.max(values.length, 12)) - 1); // fills, then slides
  const offset = w - step * (values.length - 1);
  const points = values.map((v, i) => `${offset + i * step},${hgt - ((v ?? 0) / top) * (hgt - 4) - 2}`);
  if (points.length === 1) points.unshift(`${w - step},${points[0].split(",")[1]}`);
  return s(
    "svg",
    {
      class: "spark",
      viewBox: `0 0 ${w} ${hgt}`,
      preserveAspectRatio: "none",
      role: "img",
      "aria-label": label,
    },
    s("line", { x1: 0, x2: w, y1: hgt - 2, y2: hgt - 2, class: "base" }),
    s("polyline", { points: points.join(" ") }),
  );
}

/** A headline number with its recent history. */
function tile(name, value, history, { warn = false, unit = "" } = {}) {
  return h(
    "section",
    { class: warn ? "tile warn" : "tile", "data-stat": name },
    h("h2", {}, name),
    h("p", { class: "big" }, value, unit ? h("span", { class: "unit" }, unit) : null),
    sparkline(history, `${name} over the last two minutes`),
  );
}

function card(title, rows) {
  return h(
    "section",
    { class: "card" },
    h("h2", {}, title),
    h(
      "dl",
      {},
      rows.map(([name, value, warn]) => [
        h("dt", {}, name),
        h("dd", { class: warn ? "warn" : null, "data-stat": name }, value),
      ]),
    ),
  );
}

/** Each sample's value of `read`, where `read` sees the samples up to that one. */
function series(samples, read) {
  return samples.map((_, i) => read(samples.slice(0, i + 1)));
}

function tiles(samples) {
  const { queue, embedder } = samples.at(-1).stats;
  const jobs = (part) => rate(part, (x) => x.queue.done_kept);
  const texts = (part) => (embedder ? rate(part, (x) => x.embedder.texts) : null);
  const shown = (value, digits) => (value === null ? "…" : number(value, digits));
  const lag = queue.oldest_pending_age_seconds;
  return h(
    "div",
    { class: "tiles" },
    tile(
      "Queue depth",
      number(queue.pending),
      samples.map((x) => x.stats.queue.pending),
      { unit: "jobs" },
    ),
    tile(
      "Lag",
      lag === null ? "0" : number(lag, 1),
      samples.map((x) => x.stats.queue.oldest_pending_age_seconds ?? 0),
      { unit: "s" },
    ),
    tile("Episodes processed", shown(jobs(samples), 2), series(samples, jobs), { unit: "/ s" }),
    tile("Texts embedded", shown(texts(samples), 1), series(samples, texts), { unit: "/ s" }),
    tile(
      "Dead letters",
      number(queue.dead_letters),
      samples.map((x) => x.stats.queue.dead_letters),
      { warn: queue.dead_letters > 0 },
    ),
  );
}

function cards(samples) {
  const { queue, layers, worker, query_cache: cache, embedder } = samples.at(-1).stats;
  const lookups = cache.hits + cache.misses;
  return h(
    "div",
    { class: "cards" },
    card("Queue", [
      ["Pending", number(queue.pending)],
      ["Running", number(queue.running)],
      ["Stalled (worker gone)", number(queue.stalled ?? 0), queue.stalled > 0],
      ["Oldest pending", seconds(queue.oldest_pending_age_seconds)],
      ["Retries", number(queue.retries)],
      ["Dead letters", number(queue.dead_letters), queue.dead_letters > 0],
      ["Done (kept)", number(queue.done_kept)],
    ]),
    card("Layers and worker", [
      ["Mode (setting)", layers.mode],
      ["Mode (last episode)", layers.last_mode || "—"],
      ["M1 facts, mean", `${number(layers.m1_ms_avg, 1)} ms`],
      ["M2 graph, mean", `${number(layers.m2_ms_avg, 1)} ms`],
      ["Worker", worker.in_process ? "in this process" : "external"],
      ["In flight / concurrency", `${worker.in_flight} / ${worker.concurrency}`],
    ]),
    card("Embedder and query cache", [
      ["Texts embedded", embedder ? number(embedder.texts) : "—"],
      ["Mean batch size", embedder?.batches ? number(embedder.texts / embedder.batches, 1) : "—"],
      ["Last batch size", embedder ? number(embedder.last_batch_size) : "—"],
      ["Failed batches", embedder ? number(embedder.failed_batches) : "—", embedder?.failed_batches > 0],
      ["Query cache hits / misses", `${cache.hits} / ${cache.misses}`],
      ["Hit rate", lookups ? `${((100 * cache.hits) / lookups).toFixed(0)} %` : "—"],
    ]),
  );
}

export function renderStatus(ctx) {
  const { root, signal } = ctx;
  const samples = [];
  let paused = false;
  const updated = h("p", { class: "meta" }, "Loading…");
  const pause = h("button", { type: "button", class: "ghost", "aria-pressed": "false" }, "Pause updates");
  const grid = h("div", {});
  replace(root, h("div", { class: "toolbar" }, updated, pause), grid);
  pause.addEventListener("click", () => {
    paused = !paused;
    pause.setAttribute("aria-pressed", String(paused));
    pause.textContent = paused ? "Resume updates" : "Pause updates";
  });

  const poll = async () => {
    if (signal.aborted) return;
    if (!paused && !document.hidden) {
      try {
        samples.push({ at: performance.now(), stats: await api.stats() });
        if (samples.length > HISTORY) samples.shift();
        replace(grid, tiles(samples), cards(samples));
        updated.textContent = `Updated ${new Date().toLocaleTimeString()}; every ${EVERY_MS / 1000} s.`;
      } catch (error) {
        replace(grid, errorBox(error));
        if (error.needsKey) return; // polling resumes when a key is entered (the view is drawn again)
      }
    }
    if (!signal.aborted) setTimeout(poll, EVERY_MS);
  };
  poll();
}
