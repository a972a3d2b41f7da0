// Building DOM safely: text always goes in as text, never as HTML.

const SVG_NS = "http://www.w3.org/2000/svg";

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

function assign(el, props) {
  for (const [name, value] of Object.entries(props || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      el.addEventListener(name.slice(2).toLowerCase(), value);
    } else if (name === "dataset") {
      Object.assign(el.dataset, value);
    } else {
      el.setAttribute(name, value === true ? "" : String(value));
    }
  }
}

/** An HTML element: h("a", {href: "#/x", class: "y"}, "text", child, [more]) */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  assign(el, props);
  append(el, children);
  return el;
}

/** An SVG element, the same way. */
export function s(tag, props, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  assign(el, props);
  append(el, children);
  return el;
}

export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

// Server timestamps carry microseconds; Date reads milliseconds.
function parse(iso) {
  return new Date(String(iso).replace(/(\.\d{3})\d+/, "$1"));
}

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const dateOnly = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeZone: "UTC" });

export function when(iso) {
  return iso ? dateTime.format(parse(iso)) : "";
}

export function day(iso) {
  return iso ? dateOnly.format(parse(iso)) : "";
}

/** A <time> element showing a local date and time, with the exact value on hover. */
export function time(iso, text = when(iso)) {
  return h("time", { datetime: iso, title: iso }, text);
}

export function shortId(id) {
  return String(id).slice(0, 8);
}

export function plural(n, one, many = `${one}s`) {
  return `${n} ${n === 1 ? one : many}`;
}

/** "has_grandson" -> "has grandson" */
export function words(predicate) {
  return String(predicate).replaceAll("_", " ");
}

export function announce(text) {
  const el = document.getElementById("announcer");
  if (el) el.textContent = text;
}
