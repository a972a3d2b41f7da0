// The graph as SVG: entities are circles coloured by type, relations are arrows
// labelled with their predicate. Drag a node to move it, drag the background to
// pan, scroll (or the buttons) to zoom; click a node or press Enter on it to pick it.
// The layout is computed before the first paint, so the picture is still and the
// same each time for the same graph.

import { s, words } from "./dom.js";
import { forceLayout } from "./force.js";

const PARALLEL_GAP = 34; // distance between two arrows joining the same pair of nodes
const ARROW = 7;

function radius(node) {
  return 11 + 2.5 * Math.sqrt(node.degree);
}

/** Nodes and links from entities and relations; self-relations are left out. */
function model(entities, relations) {
  const nodes = entities.map((e) => ({ id: e.id, name: e.name, type: e.entity_type, degree: 0 }));
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const links = [];
  const pairs = new Map();
  for (const r of relations) {
    const source = byId.get(r.subject.id);
    const target = byId.get(r.object.id);
    if (!source || !target || source === target) continue;
    const key = [source.id, target.id].sort().join(" ");
    const link = { id: r.id, source, target, predicate: r.predicate, key };
    pairs.set(key, [...(pairs.get(key) || []), link]);
    links.push(link);
    source.degree += 1;
    target.degree += 1;
  }
  for (const group of pairs.values()) {
    group.forEach((link, i) => (link.bend = (i - (group.length - 1) / 2) * PARALLEL_GAP));
  }
  return { nodes, links };
}

/** The arrow's path and its label's place, bent sideways for parallel links. */
function geometry(link) {
  const { source: a, target: b, bend } = link;
  const [first] = [a, b].sort((p, q) => (p.id < q.id ? -1 : 1)); // one side per pair
  const sign = first === a ? 1 : -1;
  const dx = b.x - a.x;
  const dy = b.y - a.y;
  const d = Math.hypot(dx, dy) || 1;
  const cx = (a.x + b.x) / 2 - (dy / d) * bend * sign * 2;
  const cy = (a.y + b.y) / 2 + (dx / d) * bend * sign * 2;
  const towards = (p, r) => {
    const ux = cx - p.x;
    const uy = cy - p.y;
    const u = Math.hypot(ux, uy) || 1;
    return [p.x + (ux / u) * r, p.y + (uy / u) * r];
  };
  const [x1, y1] = towards(a, radius(a));
  const [x2, y2] = towards(b, radius(b) + ARROW);
  const label = [0.25 * a.x + 0.5 * cx + 0.25 * b.x, 0.25 * a.y + 0.5 * cy + 0.25 * b.y];
  return { d: `M${x1},${y1} Q${cx},${cy} ${x2},${y2}`, label };
}

function nodeElement(node, onPick) {
  const g = s(
    "g",
    {
      class: `node type-${node.type}`,
      "data-entity-id": node.id,
      tabindex: "0",
      role: "button",
      "aria-label": `${node.name}, ${node.type}, ${node.degree} relation${node.degree === 1 ? "" : "s"}`,
    },
    s("circle", { r: radius(node) }),
    s("text", { class: "node-label", y: radius(node) + 14 }, node.name),
  );
  g.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      onPick(node.id);
    }
  });
  return g;
}

function linkElement(link) {
  return s(
    "g",
    {
      class: "edge",
      "data-relation-id": link.id,
      "data-source": link.source.id,
      "data-target": link.target.id,
      "data-predicate": link.predicate,
    },
    s("path", { class: "edge-line", "marker-end": "url(#arrow)" }),
    s("text", { class: "edge-label" }, words(link.predicate)),
  );
}

function paint(nodes, links) {
  for (const node of nodes) node.el.setAttribute("transform", `translate(${node.x},${node.y})`);
  for (const link of links) {
    const { d, label } = geometry(link);
    link.el.firstChild.setAttribute("d", d);
    link.el.lastChild.setAttribute("x", label[0]);
    link.el.lastChild.setAttribute("y", label[1] - 4);
  }
}

function bounds(nodes) {
  if (!nodes.length) return { x: -200, y: -150, w: 400, h: 300 };
  const xs = nodes.map((n) => n.x);
  const ys = nodes.map((n) => n.y);
  const pad = 70;
  const x = Math.min(...xs) - pad;
  const y = Math.min(...ys) - pad;
  return { x, y, w: Math.max(...xs) + pad - x, h: Math.max(...ys) + pad + 16 - y };
}

/** The SVG of a graph and its controls: {svg, select(id), zoom(factor), fit()}. */
export function drawGraph(entities, relations, { onPick, label }) {
  const { nodes, links } = model(entities, relations);
  const layout = forceLayout(nodes, links);
  layout.settle();
  const arrow = s(
    "marker",
    {
      id: "arrow",
      viewBox: "0 0 10 10",
      refX: "1",
      refY: "5",
      markerWidth: ARROW,
      markerHeight: ARROW,
      orient: "auto",
      markerUnits: "userSpaceOnUse",
    },
    s("path", { d: "M0,0 L10,5 L0,10 z" }),
  );
  for (const link of links) link.el = linkElement(link);
  for (const node of nodes) node.el = nodeElement(node, onPick);
  const svg = s(
    "svg",
    { class: "graph", role: "group", "aria-label": label, preserveAspectRatio: "xMidYMid meet" },
    s("defs", {}, arrow),
    s(
      "g",
      { class: "edges" },
      links.map((l) => l.el),
    ),
    s(
      "g",
      { class: "nodes" },
      nodes.map((n) => n.el),
    ),
  );
  paint(nodes, links);
  let view = bounds(nodes);
  const show = () => svg.setAttribute("viewBox", `${view.x} ${view.y} ${view.w} ${view.h}`);
  show();

  let running = false;
  const animate = () => {
    running = layout.tick();
    paint(nodes, links);
    if (running) requestAnimationFrame(animate);
  };
  const graph = {
    svg,
    fit() {
      view = bounds(nodes);
      show();
    },
    zoom(factor, cx = view.x + view.w / 2, cy = view.y + view.h / 2) {
      view = {
        x: cx - (cx - view.x) * factor,
        y: cy - (cy - view.y) * factor,
        w: view.w * factor,
        h: view.h * factor,
      };
      show();
    },
    pan(dx, dy) {
      view = { ...view, x: view.x - dx, y: view.y - dy };
      show();
    },
    select(id) {
      const near = new Set([id]);
      for (const link of links) {
        const touches = link.source.id === id || link.target.id === id;
        link.el.classList.toggle("is-near", touches);
        if (touches) near.add(link.source.id).add(link.target.id);
      }
      for (const node of nodes) {
        node.el.classList.toggle("is-selected", node.id === id);
        node.el.classList.toggle("is-near", Boolean(id) && near.has(node.id));
        node.el.setAttribute("aria-pressed", String(node.id === id));
      }
      svg.classList.toggle("has-selection", Boolean(id) && nodes.some((n) => n.id === id));
    },
    /** Hold a node at (x, y) (it stays where it is dropped) and let the rest follow. */
    pin(node, x, y) {
      [node.fx, node.fy] = [x, y];
      layout.reheat();
      if (!running) {
        running = true;
        requestAnimationFrame(animate);
      }
    },
    nodeAt: (el) => nodes.find((n) => n.el === el),
  };
  interact(graph, onPick);
  return graph;
}

function svgPoint(svg, event) {
  return new DOMPoint(event.clientX, event.clientY).matrixTransform(svg.getScreenCTM().inverse());
}

/** Pointer and wheel: drag nodes, pan, zoom; a click without a drag picks (or clears). */
function interact(graph, onPick) {
  const { svg } = graph;
  let press = null;
  svg.addEventListener("pointerdown", (event) => {
    if (event.button !== 0) return;
    const el = event.target.closest(".node");
    press = { node: el && graph.nodeAt(el), x: event.clientX, y: event.clientY, moved: false };
    svg.setPointerCapture(event.pointerId);
  });
  svg.addEventListener("pointermove", (event) => {
    if (!press) return;
    press.moved ||= Math.hypot(event.clientX - press.x, event.clientY - press.y) > 4;
    if (!press.moved) return;
    if (press.node) {
      const p = svgPoint(svg, event);
      graph.pin(press.node, p.x, p.y);
    } else {
      const scale = svg.getScreenCTM().a;
      graph.pan((event.clientX - press.x) / scale, (event.clientY - press.y) / scale);
      [press.x, press.y] = [event.clientX, event.clientY];
    }
  });
  const release = () => {
    if (press && !press.moved) onPick(press.node ? press.node.id : null);
    press = null;
  };
  svg.addEventListener("pointerup", release);
  svg.addEventListener("pointercancel", () => (press = null));
  svg.addEventListener(
    "wheel",
    (event) => {
      event.preventDefault();
      const p = svgPoint(svg, event);
      graph.zoom(event.deltaY > 0 ? 1.15 : 1 / 1.15, p.x, p.y);
    },
    { passive: false },
  );
}
