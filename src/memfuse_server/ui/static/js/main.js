// The memory browser: the frame (navigation, current user, API key) and the router.

import { api } from "./api.js";
import { h, replace } from "./dom.js";
import { setupKeyDialog } from "./keydialog.js";
import { match, to } from "./routes.js";
import { renderFacts } from "./views/facts.js";
import { renderGraph } from "./views/graph.js";
import { renderKnowledge } from "./views/knowledge.js";
import { renderQuery } from "./views/query.js";
import { renderSessions } from "./views/sessions.js";
import { renderStatus } from "./views/status.js";
import { renderUsers } from "./views/users.js";

const ROUTES = [
  ["users", "users"],
  ["u/:uid/sessions", "sessions"],
  ["u/:uid/sessions/:sid", "sessions"],
  ["u/:uid/facts", "facts"],
  ["u/:uid/knowledge", "knowledge"],
  ["u/:uid/graph", "graph"],
  ["u/:uid/graph/:eid", "graph"],
  ["u/:uid/query", "query"],
  ["status", "status"],
];

const VIEWS = {
  users: { title: "Users", render: renderUsers },
  sessions: { title: "Sessions", render: renderSessions, perUser: true },
  facts: { title: "Facts", render: renderFacts, perUser: true },
  knowledge: { title: "Knowledge", render: renderKnowledge, perUser: true },
  graph: { title: "Graph", render: renderGraph, perUser: true },
  query: { title: "Query", render: renderQuery, perUser: true },
  status: { title: "Status", render: renderStatus },
};

const LAST_USER = "memfuse.lastUser";
const main = document.getElementById("main");
const users = new Map(); // id -> Promise<user>
let current = null; // {name, uid, controller, instance}

function userOf(uid) {
  if (!users.has(uid)) {
    const found = api.user(uid);
    found.catch(() => users.delete(uid));
    users.set(uid, found);
  }
  return users.get(uid);
}

function drawNav(active, uid) {
  const items = Object.entries(VIEWS).map(([name, view]) => {
    const disabled = view.perUser && !uid;
    const href = disabled ? to.users() : name === "users" || name === "status" ? to[name]() : to[name](uid);
    return h(
      "li",
      {},
      h(
        "a",
        {
          href,
          "aria-current": name === active ? "page" : null,
          "aria-disabled": disabled ? "true" : null,
          title: disabled ? "Pick a user first" : null,
        },
        view.title,
      ),
    );
  });
  replace(document.getElementById("nav"), items);
}

function drawUser(uid) {
  const box = document.getElementById("current-user");
  if (!uid) return replace(box);
  replace(box, "User ", h("strong", {}, "…"));
  userOf(uid).then(
    (user) => replace(box, "User ", h("strong", {}, user.name), " ", h("a", { href: to.users() }, "change")),
    () => replace(box),
  );
}

function heading(view) {
  const title = h("h1", { tabindex: "-1" }, view.title);
  const setTitle = (text) => {
    title.textContent = text;
    document.title = `${text} · memory browser`;
  };
  setTitle(view.title);
  return { title, setTitle };
}

function render({ force = false, focus = true } = {}) {
  const route = match(location.hash, ROUTES);
  if (!route) {
    location.replace(to.users());
    return;
  }
  const uid = route.params.uid || sessionStorage.getItem(LAST_USER) || "";
  if (route.params.uid) sessionStorage.setItem(LAST_USER, route.params.uid);
  drawNav(route.name, uid);
  drawUser(route.params.uid ? uid : "");
  const same = current && current.name === route.name && current.uid === route.params.uid;
  if (same && !force && current.instance?.update) {
    current.instance.update(route);
    return;
  }
  current?.controller.abort();
  const view = VIEWS[route.name];
  const controller = new AbortController();
  const { title, setTitle } = heading(view);
  const root = h("div", { class: `view view-${route.name}` });
  replace(main, title, root);
  const ctx = { ...route, uid: route.params.uid, root, setTitle, signal: controller.signal, user: userOf };
  current = { name: route.name, uid: route.params.uid, controller, instance: view.render(ctx) };
  if (focus) title.focus();
}

/** A deleted user is forgotten: not the current user any more, nor in the navigation. */
function userDeleted(event) {
  users.delete(event.detail);
  if (sessionStorage.getItem(LAST_USER) === event.detail) sessionStorage.removeItem(LAST_USER);
  const route = match(location.hash, ROUTES);
  if (route) drawNav(route.name, route.params.uid || sessionStorage.getItem(LAST_USER) || "");
}

function boot() {
  setupKeyDialog(() => {
    users.clear();
    render({ force: true, focus: false });
  });
  document.getElementById("skip-link").addEventListener("click", (event) => {
    event.preventDefault();
    main.focus();
  });
  window.addEventListener("hashchange", () => render());
  window.addEventListener("memfuse:user-deleted", userDeleted);
  api.health().then(
    (health) => (document.getElementById("version").textContent = `memfuse-server ${health.version}`),
    () => {},
  );
  render({ focus: false });
}

boot();
