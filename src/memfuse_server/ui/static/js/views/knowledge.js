// Knowledge of a user: statements posted through the API (not derived from messages),
// embedded and searched like facts. Add, edit and delete them here.

import { api } from "../api.js";
import { errorBox, empty, loading } from "../components.js";
import { h, plural, replace, time } from "../dom.js";
import { actionButton, addKnowledge, deleteKnowledge, editKnowledge } from "../editing.js";

function item(k, edit, remove) {
  const which = `knowledge: ${k.content.slice(0, 60)}`;
  return h(
    "li",
    { class: "knowledge", "data-knowledge-id": k.id },
    h("p", { class: "content" }, k.content),
    h(
      "div",
      { class: "item-actions" },
      h("span", { class: "meta" }, "Added ", time(k.created_at)),
      actionButton("Edit", `Edit ${which}`, () => edit(k)),
      actionButton("Delete", `Delete ${which}`, () => remove(k), "danger"),
    ),
  );
}

export function renderKnowledge(ctx) {
  const { uid, root } = ctx;
  const count = h("p", { class: "count", "aria-live": "polite", tabindex: "-1" });
  const list = h("ul", { class: "plain knowledge-list" });
  const status = h("div", {}, loading());
  const add = h("button", { type: "button", class: "primary" }, "Add knowledge");
  replace(
    root,
    h(
      "p",
      { class: "lede" },
      "Statements about the user given through the API rather than said in a session. They are searched like facts.",
    ),
    h("div", { class: "toolbar" }, add, count),
    status,
    list,
  );

  const load = async (focus) => {
    try {
      const items = await api.knowledge(uid);
      count.textContent = plural(items.length, "statement");
      replace(status, items.length ? null : empty("No knowledge yet."));
      replace(list, items.map((k) => item(k, edit, remove)));
      focus?.();
    } catch (error) {
      replace(status, errorBox(error));
    }
  };
  const edit = async (k) => {
    if (await editKnowledge(uid, k))
      await load(() => list.querySelector(`[data-knowledge-id="${CSS.escape(k.id)}"] button`)?.focus());
  };
  const remove = async (k) => (await deleteKnowledge(uid, k)) && load(() => count.focus());
  add.addEventListener("click", async () => (await addKnowledge(uid)) && load(() => count.focus()));

  ctx.user(uid).then(
    (user) => ctx.setTitle(`Knowledge of ${user.name}`),
    () => {},
  );
  load();
}
