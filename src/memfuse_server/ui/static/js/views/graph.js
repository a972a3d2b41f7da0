// The user's graph (M2): entities and relations; pick an entity to see its
// relations, the facts about it and the turns it came from.

import { api } from "../api.js";
import { badge, errorBox, empty, factItem, loading, sourceTurns } from "../components.js";
import { announce, day, h, plural, replace, words } from "../dom.js";
import { actionButton, deleteEntity, deleteRelation, relationText } from "../editing.js";
import { drawGraph } from "../graphsvg.js";
import { to } from "../routes.js";

const MAX_NODES = 400; // beyond this the most connected entities are drawn
const TYPES = ["person", "place", "organization", "event", "thing"];

/** The most connected entities when there are too many to draw. */
function busiest(entities, relations) {
  if (entities.length <= MAX_NODES) return entities;
  const degree = new Map();
  for (const r of relations) {
    for (const id of [r.subject.id, r.object.id]) degree.set(id, (degree.get(id) || 0) + 1);
  }
  return [...entities].sort((a, b) => (degree.get(b.id) || 0) - (degree.get(a.id) || 0)).slice(0, MAX_NODES);
}

function legend(entities) {
  const counts = new Map();
  for (const e of entities) counts.set(e.entity_type, (counts.get(e.entity_type) || 0) + 1);
  const types = [...new Set([...TYPES.filter((t) => counts.has(t)), ...counts.keys()])];
  return h(
    "ul",
    { class: "legend", "aria-label": "Entity types" },
    types.map((t) =>
      h(
        "li",
        { class: `type-${t}` },
        h("span", { class: "swatch", "aria-hidden": "true" }),
        `${t} (${counts.get(t)})`,
      ),
    ),
  );
}

function relationRow(uid, relation, entityId, changed) {
  const other = relation.subject.id === entityId ? relation.object : relation.subject;
  const meta = [
    relation.valid_at ? `as of ${day(relation.valid_at)}` : "",
    `confidence ${Number(relation.confidence).toFixed(2)}`,
  ];
  const details = h(
    "details",
    { class: "relation", "data-relation-id": relation.id },
    h(
      "summary",
      {},
      h(
        "span",
        { class: "triple" },
        relation.subject.name,
        " ",
        h("span", { class: "predicate" }, words(relation.predicate)),
        " ",
        relation.object.name,
      ),
      h("span", { class: "meta" }, meta.filter(Boolean).join(" · ")),
    ),
  );
  details.addEventListener("toggle", () => {
    if (details.open && !details.querySelector(".sources"))
      details.append(sourceTurns(uid, relation.source_message_ids));
  });
  const go =
    other.id === entityId
      ? null
      : h("a", { href: to.graph(uid, other.id), class: "go" }, `Go to ${other.name}`);
  const remove = async () => (await deleteRelation(uid, relation)) && changed(entityId);
  const drop = actionButton("Delete", `Delete relation: ${relationText(relation)}`, remove, "danger");
  return h("li", {}, details, h("div", { class: "item-actions" }, go, drop));
}

function section(title, items, none) {
  return h(
    "section",
    {},
    h("h3", {}, title),
    items.length ? h("ul", { class: "plain" }, items) : empty(none),
  );
}

async function showEntity(uid, eid, panel, current, changed) {
  replace(panel, loading("Loading the entity…"));
  const { entity, relations, facts } = await api.entity(uid, eid);
  if (!current()) return; // another entity was picked meanwhile
  const remove = async () => (await deleteEntity(uid, entity, relations.length)) && changed(null);
  replace(
    panel,
    h(
      "h2",
      { id: "entity-title", tabindex: "-1" },
      entity.name,
      " ",
      badge(entity.entity_type, `type-${entity.entity_type}`),
    ),
    h(
      "div",
      { class: "item-actions" },
      actionButton("Delete entity", `Delete entity ${entity.name}`, remove, "danger"),
    ),
    entity.aliases?.length ? h("p", { class: "meta" }, `Also: ${entity.aliases.join(", ")}`) : null,
    section(
      `Relations (${relations.length})`,
      relations.map((r) => relationRow(uid, r, entity.id, changed)),
      "No relations.",
    ),
    section(
      `Facts (${facts.length})`,
      facts.map((f) => h("li", {}, factItem(uid, f))),
      "No facts mention this entity.",
    ),
    h(
      "section",
      {},
      h("h3", {}, `Source turns (${entity.source_message_ids.length})`),
      sourceTurns(uid, entity.source_message_ids),
    ),
  );
  announce(`${entity.name}: ${plural(relations.length, "relation")}, ${plural(facts.length, "fact")}`);
}

function toolbar(uid, entities, graph) {
  const picker = h(
    "select",
    { id: "entity-picker" },
    h("option", { value: "" }, "— pick an entity —"),
    [...entities]
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((e) => h("option", { value: e.id }, `${e.name} (${e.entity_type})`)),
  );
  picker.addEventListener("change", () => (location.hash = to.graph(uid, picker.value)));
  const button = (text, label, action) =>
    h("button", { type: "button", class: "ghost", "aria-label": label, onclick: action }, text);
  const bar = h(
    "div",
    { class: "toolbar" },
    h("label", { for: "entity-picker" }, "Entity"),
    picker,
    h(
      "span",
      { class: "zoom", role: "group", "aria-label": "Zoom" },
      button("+", "Zoom in", () => graph.zoom(1 / 1.25)),
      button("−", "Zoom out", () => graph.zoom(1.25)),
      button("Fit", "Fit the graph to the view", () => graph.fit()),
    ),
  );
  return { bar, picker };
}

export function renderGraph(ctx) {
  const { uid, root } = ctx;
  const stage = h("div", { class: "stage" }, loading("Loading the graph…"));
  const panel = h("aside", { class: "panel", "aria-labelledby": "entity-title" });
  replace(root, h("div", { class: "graph-layout" }, stage, panel));
  let graph = null;
  let picker = null;
  let picked = 0;

  const select = (eid) => {
    const mine = ++picked;
    graph?.select(eid || null);
    if (picker) picker.value = eid || "";
    if (!eid)
      return replace(
        panel,
        h("h2", { id: "entity-title" }, "Pick an entity"),
        h(
          "p",
          { class: "meta" },
          "Click a circle, or choose an entity from the list, to see its relations, facts and source turns.",
        ),
      );
    const current = () => mine === picked;
    return showEntity(uid, eid, panel, current, changed).catch(
      (error) => current() && replace(panel, errorBox(error)),
    );
  };

  // After a deletion: the graph again, with this entity (or none) picked.
  const changed = async (eid) => {
    if (!eid) history.replaceState(null, "", to.graph(uid));
    await load(eid);
    (eid ? panel.querySelector("#entity-title") : stage.querySelector("#entity-picker"))?.focus();
  };

  const load = (eid) => Promise.all([api.allEntities(uid), api.allRelations(uid)]).then(
    ([entities, relations]) => {
      ctx.user(uid).then(
        (user) => ctx.setTitle(`Graph of ${user.name}`),
        () => {},
      );
      if (!entities.length) {
        graph = picker = null;
        replace(panel);
        return replace(
          stage,
          empty("No entities yet: the graph grows as episodes are processed in the background."),
        );
      }
      const shown = busiest(entities, relations);
      const label = `Graph of ${plural(shown.length, "entity", "entities")} and their relations`;
      graph = drawGraph(shown, relations, { label, onPick: (id) => (location.hash = to.graph(uid, id)) });
      const tools = toolbar(uid, shown, graph);
      picker = tools.picker;
      const note =
        shown.length < entities.length
          ? h(
              "p",
              { class: "note" },
              `The ${shown.length} most connected of ${entities.length} entities are drawn.`,
            )
          : null;
      const count = h(
        "p",
        { class: "count" },
        `${plural(shown.length, "entity", "entities")}, ${plural(graph.svg.querySelectorAll(".edge").length, "relation")}`,
      );
      replace(stage, tools.bar, h("div", { class: "legend-row" }, legend(shown), count), note, graph.svg);
      return select(eid);
    },
    (error) => replace(stage, errorBox(error)),
  );
  load(ctx.params.eid);
  return { update: (route) => graph && select(route.params.eid) };
}
