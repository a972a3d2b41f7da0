// Pieces several views share: states, badges, message turns, facts with their sources.

import { h, plural, replace, shortId, time, day } from "./dom.js";
import { openKeyDialog } from "./keydialog.js";
import { to } from "./routes.js";
import { readSources } from "./sources.js";

export function loading(text = "Loading…") {
  return h("p", { class: "loading", role: "status" }, text);
}

export function empty(text) {
  return h("p", { class: "empty" }, text);
}

export function errorBox(error) {
  const box = h("div", { class: "error", role: "alert" }, h("strong", {}, "Could not load: "), error.message);
  if (error.needsKey) {
    box.append(
      " ",
      h("button", { type: "button", class: "link", onclick: () => openKeyDialog() }, "Enter an API key"),
    );
  }
  return box;
}

export function badge(text, kind = "") {
  return h("span", { class: `badge ${kind}`.trim() }, text);
}

/** Where a message stands: still in the session's open window, or in an episode. */
export function windowBadge(message, label = `episode ${shortId(message.episode_id)}`) {
  return message.episode_id ? badge(label, "episode") : badge("open window", "open");
}

/** One message: who said it and when, its session, its window, its text (and `actions`). */
export function turn(uid, message, { highlight = false, episodeLabel, actions } = {}) {
  const speaker = message.name || message.role;
  return h(
    "article",
    { class: highlight ? "turn highlight" : "turn", "data-message-id": message.id },
    h(
      "header",
      {},
      h("span", { class: "speaker" }, speaker),
      message.name ? h("span", { class: "role" }, message.role) : null,
      time(message.created_at),
      message.session
        ? h(
            "a",
            { href: to.sessions(uid, message.session_id, message.id) },
            `session ${message.session.name}`,
          )
        : null,
      windowBadge(message, episodeLabel),
      actions ? h("span", { class: "item-actions" }, actions) : null,
    ),
    h("p", { class: "content" }, message.content || "(no text)"),
  );
}

function missingNote(missing, partial) {
  const why = partial
    ? "some sessions are longer than the browser can list (2000 messages)"
    : "they may have been deleted";
  return h("p", { class: "note" }, `${plural(missing.length, "source turn")} not found: ${why}.`);
}

/** The turns with these ids, loaded now; a box that fills in when they arrive. */
export function sourceTurns(uid, ids) {
  const box = h("div", { class: "sources" });
  if (!ids?.length) return replace(box, empty("No source turns recorded."));
  box.setAttribute("aria-busy", "true");
  replace(box, loading("Loading source turns…"));
  readSources(uid, ids).then(
    ({ messages, missing, partial }) => {
      replace(
        box,
        messages.map((m) => turn(uid, m)),
        missing.length ? missingNote(missing, partial) : null,
      );
      box.removeAttribute("aria-busy");
    },
    (error) => replace(box, errorBox(error)),
  );
  return box;
}

function factMeta(fact) {
  const parts = [];
  if (fact.subject) parts.push(`about ${fact.subject}`);
  if (fact.occurred_at) {
    parts.push(`${day(fact.occurred_at)}${fact.time_expression ? ` (“${fact.time_expression}”)` : ""}`);
  }
  if (typeof fact.confidence === "number") parts.push(`confidence ${fact.confidence.toFixed(2)}`);
  parts.push(plural(fact.source_message_ids.length, "source turn"));
  return h("span", { class: "meta" }, parts.join(" · "));
}

/** A fact; opening it shows the turns it came from. */
export function factItem(uid, fact) {
  const details = h(
    "details",
    { class: "fact", "data-fact-id": fact.id },
    h("summary", {}, h("span", { class: "fact-text" }, fact.content), factMeta(fact)),
  );
  details.addEventListener("toggle", () => {
    if (details.open && !details.querySelector(".sources")) {
      details.append(sourceTurns(uid, fact.source_message_ids));
    }
  });
  return details;
}
