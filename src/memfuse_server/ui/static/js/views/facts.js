// Facts (M1) of a user, newest first; open one to see the turns it came from.

import { api } from "../api.js";
import { errorBox, empty, factItem, loading } from "../components.js";
import { h, plural, replace } from "../dom.js";
import { actionButton, deleteFact } from "../editing.js";

const PAGE = 200;

function matches(fact, words) {
  const text = `${fact.content} ${fact.subject || ""}`.toLowerCase();
  return words.every((w) => text.includes(w));
}

export function renderFacts(ctx) {
  const { uid, root } = ctx;
  const facts = [];
  let complete = false;
  const filter = h("input", {
    id: "fact-filter",
    type: "search",
    autocomplete: "off",
    placeholder: "words in the fact",
  });
  const count = h("p", { class: "count", "aria-live": "polite", tabindex: "-1" });
  const list = h("ul", { class: "facts" });
  const more = h("button", { type: "button", class: "ghost", hidden: true }, "Load more facts");
  const status = h("div", {}, loading());
  replace(
    root,
    h(
      "p",
      { class: "lede" },
      "Facts extracted in the background from closed episodes. Open a fact to read the turns it came from.",
    ),
    h("div", { class: "toolbar" }, h("label", { for: "fact-filter" }, "Filter facts"), filter, count),
    status,
    list,
    more,
  );

  const rows = new Map(); // fact id -> its list item (kept, so an opened fact stays open)
  const row = (fact) => {
    if (!rows.has(fact.id)) {
      const remove = actionButton("Delete", `Delete fact: ${fact.content}`, () => forget(fact), "danger");
      rows.set(fact.id, h("li", { "data-fact-id": fact.id }, factItem(uid, fact), remove));
    }
    return rows.get(fact.id);
  };
  const forget = async (fact) => {
    if (!(await deleteFact(uid, fact))) return;
    facts.splice(facts.indexOf(fact), 1);
    rows.delete(fact.id);
    show();
    count.focus(); // the list changed under the button
  };

  const show = () => {
    const words = filter.value.toLowerCase().split(/\s+/).filter(Boolean);
    const shown = facts.filter((f) => matches(f, words));
    const total = complete ? plural(facts.length, "fact") : `${facts.length} loaded facts`;
    count.textContent = words.length ? `${shown.length} of ${total}` : total;
    replace(list, shown.map(row));
    replace(
      status,
      facts.length || !complete
        ? null
        : empty("No facts yet: they appear once an episode closes and the background has processed it."),
    );
    more.hidden = complete;
  };

  const load = async () => {
    more.disabled = true;
    try {
      const page = await api.facts(uid, PAGE, facts.length);
      facts.push(...page);
      complete = page.length < PAGE;
      show();
    } catch (error) {
      replace(status, errorBox(error));
    } finally {
      more.disabled = false;
    }
  };

  filter.addEventListener("input", show);
  more.addEventListener("click", load);
  ctx.user(uid).then(
    (user) => ctx.setTitle(`Facts of ${user.name}`),
    () => {},
  );
  load();
}
