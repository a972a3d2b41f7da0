// Query a user's memory: the fused results, each with its score, the rank every
// retriever gave it (metadata.retrieval), its layer and scope, and its source turns.

import { api } from "../api.js";
import { badge, errorBox, empty, loading, sourceTurns } from "../components.js";
import { announce, h, plural, replace, words } from "../dom.js";
import { to } from "../routes.js";

const LAYERS = { 0: "M0 episodic", 1: "M1 semantic", 2: "M2 relational" };

function ranks(retrieval) {
  const entries = Object.entries(retrieval || {}).sort((a, b) => a[1] - b[1]);
  if (!entries.length) return null;
  return h(
    "div",
    { class: "ranks-row" },
    h("span", { class: "meta", "aria-hidden": "true" }, "Retriever ranks"),
    h(
      "ul",
      { class: "ranks", "aria-label": "Rank given by each retriever" },
      entries.map(([name, rank]) =>
        h("li", { "data-retriever": name }, h("span", {}, name), " ", h("strong", {}, `#${rank}`)),
      ),
    ),
  );
}

function content(result) {
  const m = result.metadata;
  if (result.type === "relation" && m.subject && m.object) {
    return h(
      "p",
      { class: "content triple" },
      m.subject.name,
      " ",
      h("span", { class: "predicate" }, words(m.predicate)),
      " ",
      m.object.name,
    );
  }
  return h("p", { class: "content" }, result.content || "(no text)");
}

function resultItem(uid, result, index) {
  const m = result.metadata;
  const sources = m.source_message_ids || [];
  const where = m.session_id
    ? h(
        "a",
        { href: to.sessions(uid, m.session_id, result.type === "message" ? result.id : undefined) },
        `session ${m.session_name || m.session_id}`,
      )
    : null;
  return h(
    "li",
    { class: "result", "data-result-id": result.id, "data-type": result.type },
    h(
      "div",
      { class: "result-head" },
      h("span", { class: "rank-number" }, `${index + 1}`),
      badge(result.type, `kind-${result.type}`),
      h("span", { class: "meta" }, LAYERS[m.level] ?? `level ${m.level}`),
      m.scope ? badge(m.scope.replace("_", " "), "scope") : null,
      where,
      h(
        "span",
        { class: "score" },
        h("meter", { min: "0", max: "1", value: String(result.score), "aria-label": "score" }),
        h("span", {}, `score ${result.score.toFixed(3)}`),
      ),
    ),
    content(result),
    ranks(m.retrieval),
    h(
      "details",
      { class: "result-sources", open: true },
      h("summary", {}, `Sources (${plural(sources.length, "turn")})`),
      sourceTurns(uid, sources),
    ),
  );
}

function form(sessions, route) {
  const q = route.query;
  const input = h("input", {
    id: "query-text",
    name: "q",
    type: "search",
    required: true,
    autocomplete: "off",
    value: q.get("q") || "",
    placeholder: "e.g. How old is Leo?",
  });
  const topK = h("input", {
    id: "query-k",
    name: "k",
    type: "number",
    min: "1",
    max: "100",
    value: q.get("k") || "10",
  });
  const session = h(
    "select",
    { id: "query-session", name: "s" },
    h("option", { value: "" }, "none (all cross-session)"),
    sessions.map((s) => h("option", { value: s.id, selected: s.id === q.get("s") }, s.name)),
  );
  return {
    el: h(
      "form",
      { class: "query-form", role: "search" },
      h("div", { class: "field grow" }, h("label", { for: "query-text" }, "Query"), input),
      h("div", { class: "field" }, h("label", { for: "query-k" }, "Results"), topK),
      h("div", { class: "field" }, h("label", { for: "query-session" }, "Current session"), session),
      h("button", { type: "submit", class: "primary" }, "Search"),
    ),
    values: () => ({ q: input.value.trim(), k: topK.value, s: session.value }),
    show(query) {
      input.value = query.get("q") || "";
      topK.value = query.get("k") || "10";
      session.value = query.get("s") || "";
    },
  };
}

async function run(uid, route, out, current) {
  const text = route.query.get("q");
  if (!text) return replace(out, empty("Ask something; the results show how each retriever ranked them."));
  replace(out, loading("Searching…"));
  const body = { query: text, top_k: Number(route.query.get("k")) || 10 };
  if (route.query.get("s")) body.session_id = route.query.get("s");
  const started = performance.now();
  const results = await api.query(uid, body);
  if (!current()) return; // a newer query was asked meanwhile
  const ms = Math.round(performance.now() - started);
  replace(
    out,
    h(
      "p",
      { class: "count" },
      `${plural(results.length, "result")} in ${ms} ms. Score: reciprocal-rank fusion of the retrievers' ranks (vector search per kind, full text, graph).`,
    ),
    results.length
      ? h(
          "ol",
          { class: "results" },
          results.map((r, i) => resultItem(uid, r, i)),
        )
      : empty("Nothing relevant found."),
  );
  announce(`${plural(results.length, "result")}`);
}

export function renderQuery(ctx) {
  const { uid, root } = ctx;
  const top = h("div", {}, loading());
  const out = h("div", { class: "query-out" });
  replace(root, top, out);
  let asked = 0;
  let queryForm = null;
  const search = (route) => {
    const mine = ++asked;
    const current = () => mine === asked;
    run(uid, route, out, current).catch((error) => current() && replace(out, errorBox(error)));
  };
  api.sessions(uid).then(
    (sessions) => {
      ctx.user(uid).then(
        (user) => ctx.setTitle(`Query the memory of ${user.name}`),
        () => {},
      );
      queryForm = form(sessions, ctx);
      queryForm.el.addEventListener("submit", (event) => {
        event.preventDefault();
        const next = to.query(uid, queryForm.values());
        if (location.hash === next)
          search(ctx); // the same query again: run it anyway
        else location.hash = next;
      });
      replace(top, queryForm.el);
      search(ctx);
    },
    (error) => replace(top, errorBox(error)),
  );
  return {
    update(route) {
      ctx.query = route.query;
      queryForm?.show(route.query); // back and forward show the query they ran
      search(route);
    },
  };
}
