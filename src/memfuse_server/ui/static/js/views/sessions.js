// Sessions of a user and their messages, grouped by the window each belongs to:
// closed windows are episodes (handed to the fact and graph extractors); the
// open window is what the session is still collecting.

import { api } from "../api.js";
import { errorBox, empty, loading, turn } from "../components.js";
import { announce, h, plural, replace, shortId, time } from "../dom.js";
import { actionButton, deleteMessage, deleteSession, editMessage } from "../editing.js";
import { to } from "../routes.js";

const LIMIT = 1000; // the most GET .../messages returns at once

/** Consecutive messages of one window: {episode, number, messages}. */
function windows(messages) {
  const groups = [];
  const numbers = new Map();
  for (const message of messages) {
    const episode = message.episode_id;
    if (episode && !numbers.has(episode)) numbers.set(episode, numbers.size + 1);
    const last = groups.at(-1);
    if (last && last.episode === episode) last.messages.push(message);
    else groups.push({ episode, number: numbers.get(episode), messages: [message] });
  }
  return groups;
}

function windowSection(uid, group, highlight, actions) {
  const label = group.episode ? `Episode ${group.number}` : "Open window";
  const note = group.episode
    ? "closed; handed to the fact and graph extractors"
    : "still collecting; not yet in facts or the graph";
  return h(
    "section",
    {
      class: group.episode ? "window episode" : "window open",
      "aria-label": `${label}, ${plural(group.messages.length, "message")}`,
      "data-episode-id": group.episode || "open",
    },
    h(
      "h3",
      {},
      label,
      group.episode ? h("code", { title: group.episode }, shortId(group.episode)) : null,
      h("span", { class: "meta" }, `${plural(group.messages.length, "message")} · ${note}`),
    ),
    group.messages.map((m) =>
      turn(uid, m, {
        highlight: m.id === highlight,
        episodeLabel: group.episode && `episode ${group.number}`,
        actions: actions(m),
      }),
    ),
  );
}

function summary(messages, groups) {
  const open = messages.filter((m) => !m.episode_id).length;
  const episodes = groups.filter((g) => g.episode).length;
  const more = messages.length >= LIMIT ? ` (the newest ${LIMIT} are shown)` : "";
  return h(
    "p",
    { class: "count" },
    `${plural(messages.length, "message")}${more}: ${messages.length - open} in ${plural(episodes, "episode")}, ${open} in the open window.`,
  );
}

/** Edit and Delete for a message; `changed(id)` shows the session again. */
function messageActions(uid, session, changed) {
  return (m) => {
    const which = `message of ${m.name || m.role}: ${String(m.content).slice(0, 60)}`;
    const edit = async () => (await editMessage(uid, session.id, m)) && changed(m.id);
    const remove = async () => {
      if (!(await deleteMessage(uid, session.id, m))) return;
      await changed();
      document.getElementById("messages-title")?.focus(); // where the message was
    };
    return [
      actionButton("Edit", `Edit ${which}`, edit),
      actionButton("Delete", `Delete ${which}`, remove, "danger"),
    ];
  };
}

async function showMessages(uid, session, pane, highlight, current, gone) {
  replace(pane, h("h2", { id: "messages-title" }, `Session ${session.name}`), loading());
  const newest = await api.messages(session.id, { limit: LIMIT, order: "desc" });
  if (!current()) return; // another session was picked meanwhile
  const messages = newest.reverse();
  const groups = windows(messages);
  const again = (id) =>
    showMessages(uid, session, pane, id, current, gone).catch(
      (error) => current() && replace(pane, errorBox(error)),
    );
  const drop = async () => (await deleteSession(uid, session, messages.length)) && gone(session);
  replace(
    pane,
    h(
      "div",
      { class: "pane-head" },
      h("h2", { id: "messages-title", tabindex: "-1" }, `Session ${session.name}`),
      actionButton("Delete session", `Delete session ${session.name}`, drop, "danger"),
    ),
    h("p", { class: "meta" }, "Started ", time(session.created_at), ` · agent ${shortId(session.agent_id)}`),
    summary(messages, groups),
    messages.length
      ? groups.map((g) => windowSection(uid, g, highlight, messageActions(uid, session, again)))
      : empty("No messages in this session."),
  );
  announce(`Session ${session.name}: ${plural(messages.length, "message")}`);
  const target = highlight && pane.querySelector(`[data-message-id="${CSS.escape(highlight)}"]`);
  if (target) {
    target.setAttribute("tabindex", "-1");
    target.scrollIntoView({ block: "center" });
    target.focus({ preventScroll: true });
  }
}

function sessionList(uid, sessions) {
  return h(
    "nav",
    { class: "session-list", "aria-label": "Sessions" },
    h(
      "ul",
      {},
      sessions.map((s) =>
        h(
          "li",
          {},
          h(
            "a",
            { href: to.sessions(uid, s.id), "data-session-id": s.id },
            h("span", { class: "name" }, s.name),
            h("span", { class: "meta" }, time(s.created_at)),
          ),
        ),
      ),
    ),
  );
}

export function renderSessions(ctx) {
  const { uid, root } = ctx;
  const side = h("div", { class: "side" }, loading());
  const pane = h("div", { class: "pane" });
  replace(root, h("div", { class: "split" }, side, pane));
  let sessions = null;
  let picked = 0;

  const select = (route) => {
    const mine = ++picked;
    const current = () => mine === picked;
    const sid = route.params.sid;
    if (!sid && sessions.length) return location.replace(to.sessions(uid, sessions[0].id));
    for (const a of side.querySelectorAll("a[data-session-id]")) {
      if (a.dataset.sessionId === sid) a.setAttribute("aria-current", "page");
      else a.removeAttribute("aria-current");
    }
    const session = sessions.find((s) => s.id === sid);
    if (!session) return replace(pane, sessions.length ? empty("No such session for this user.") : null);
    showMessages(uid, session, pane, route.query.get("m"), current, gone).catch(
      (error) => current() && replace(pane, errorBox(error)),
    );
  };

  const list = () =>
    replace(
      side,
      h("h2", {}, plural(sessions.length, "session")),
      sessions.length ? sessionList(uid, sessions) : empty("No sessions yet."),
    );
  const gone = (session) => {
    sessions = sessions.filter((s) => s.id !== session.id);
    list();
    replace(pane, empty(`Session ${session.name} was deleted.`));
    history.replaceState(null, "", to.sessions(uid));
    document.querySelector("main h1")?.focus();
  };

  api.sessions(uid).then(
    (found) => {
      sessions = found;
      ctx.user(uid).then(
        (user) => ctx.setTitle(`Sessions of ${user.name}`),
        () => {},
      );
      list();
      select(ctx);
    },
    (error) => replace(side, errorBox(error)),
  );
  return { update: (route) => sessions && select(route) };
}
