// Users: pick whose memory to browse; filter by name, description or id.

import { api } from "../api.js";
import { errorBox, empty, loading } from "../components.js";
import { h, plural, replace, time } from "../dom.js";
import { actionButton, deleteUser } from "../editing.js";
import { to } from "../routes.js";

function row(user, remove) {
  return h(
    "tr",
    { "data-user-id": user.id },
    h("th", { scope: "row" }, h("a", { href: to.sessions(user.id) }, user.name)),
    h("td", {}, user.description || ""),
    h("td", {}, time(user.created_at)),
    h(
      "td",
      { class: "links" },
      h("a", { href: to.facts(user.id), "aria-label": `Facts of ${user.name}` }, "facts"),
      h("a", { href: to.knowledge(user.id), "aria-label": `Knowledge of ${user.name}` }, "knowledge"),
      h("a", { href: to.graph(user.id), "aria-label": `Graph of ${user.name}` }, "graph"),
      h("a", { href: to.query(user.id), "aria-label": `Query ${user.name}'s memory` }, "query"),
      actionButton("Delete", `Delete user ${user.name}`, () => remove(user), "danger"),
    ),
  );
}

function table(users, remove) {
  return h(
    "table",
    { class: "users" },
    h("caption", { class: "sr-only" }, "Users"),
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        h("th", { scope: "col" }, "Name"),
        h("th", { scope: "col" }, "Description"),
        h("th", { scope: "col" }, "Created"),
        h("th", { scope: "col" }, h("span", { class: "sr-only" }, "Views")),
      ),
    ),
    h("tbody", {}, users.map((u) => row(u, remove))),
  );
}

function matches(user, words) {
  const text = `${user.name} ${user.description || ""} ${user.id}`.toLowerCase();
  return words.every((w) => text.includes(w));
}

export function renderUsers(ctx) {
  const filter = h("input", {
    id: "user-filter",
    type: "search",
    autocomplete: "off",
    placeholder: "name, description or id",
  });
  const count = h("p", { class: "count", "aria-live": "polite" });
  const list = h("div", { class: "table-wrap" }, loading());
  replace(
    ctx.root,
    h(
      "p",
      { class: "lede" },
      "Pick a user to browse their sessions, facts and graph, or to query their memory.",
    ),
    h("div", { class: "toolbar" }, h("label", { for: "user-filter" }, "Filter users"), filter, count),
    list,
  );
  api.users().then(
    (users) => {
      const remove = async (user) => {
        if (!(await deleteUser(user))) return;
        users.splice(users.indexOf(user), 1);
        window.dispatchEvent(new CustomEvent("memfuse:user-deleted", { detail: user.id }));
        show();
        filter.focus();
      };
      const show = () => {
        const words = filter.value.toLowerCase().split(/\s+/).filter(Boolean);
        const shown = users.filter((u) => matches(u, words));
        count.textContent = `${shown.length} of ${plural(users.length, "user")}`;
        replace(
          list,
          shown.length ? table(shown, remove) : empty(users.length ? "No user matches the filter." : "No users yet."),
        );
      };
      filter.addEventListener("input", show);
      show();
    },
    (error) => replace(list, errorBox(error)),
  );
}
