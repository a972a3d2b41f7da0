// Changing memory from the browser. Each action asks first (dialogs.js), saying what will
// happen, then makes one REST call (api.js `edit`); it resolves true once the change is made,
// false when the user cancelled. The views put the buttons by their items and refresh after.

import { edit } from "./api.js";
import { confirmAction, editText } from "./dialogs.js";
import { announce, h, plural, words } from "./dom.js";
import { forgetIndex } from "./sources.js";

/** A button acting on one item: `label` is shown, `name` tells a screen reader which item. */
export function actionButton(label, name, onclick, kind = "") {
  return h("button", { type: "button", class: `item-action ${kind}`.trim(), "aria-label": name, onclick }, label);
}

function quoted(text, max = 80) {
  const t = String(text ?? "");
  return `“${t.length > max ? `${t.slice(0, max - 1)}…` : t}”`;
}

async function made(change, said) {
  const result = await change;
  if (result === null) return false;
  announce(said);
  return true;
}

export function editMessage(uid, sid, message) {
  const work = (content) =>
    edit.updateMessage(sid, message.id, {
      role: message.role,
      content,
      metadata: message.metadata ?? {},
      ...(message.name ? { name: message.name } : {}),
    });
  return made(
    editText({
      title: "Edit message",
      text: "The new text replaces the old; what was derived from its episode is derived again.",
      label: "Text",
      value: message.content,
      confirm: "Save message",
      work,
    }),
    "Message saved",
  );
}

export function deleteMessage(uid, sid, message) {
  return made(
    confirmAction({
      title: "Delete this message?",
      text: `${quoted(message.content)} is deleted, with the facts and graph derived only from it.`,
      confirm: "Delete message",
      work: async () => {
        await edit.deleteMessage(sid, message.id);
        forgetIndex(uid);
      },
    }),
    "Message deleted",
  );
}

export function deleteSession(uid, session, count) {
  return made(
    confirmAction({
      title: `Delete session ${session.name}?`,
      text: `Its ${plural(count, "message")}, and the facts and graph derived only from them, are deleted.`,
      confirm: "Delete session",
      work: async () => {
        await edit.deleteSession(session.id);
        forgetIndex(uid);
      },
    }),
    `Session ${session.name} deleted`,
  );
}

export function deleteUser(user) {
  return made(
    confirmAction({
      title: `Delete user ${user.name}?`,
      text: `Everything of ${user.name} is deleted: sessions, messages, knowledge, facts, graph and API keys.`,
      confirm: "Delete user",
      work: () => edit.deleteUser(user.id),
    }),
    `User ${user.name} deleted`,
  );
}

export function deleteFact(uid, fact) {
  return made(
    confirmAction({
      title: "Delete this fact?",
      text: `${quoted(fact.content)} is deleted, and not extracted again from the turns it came from.`,
      confirm: "Delete fact",
      work: () => edit.deleteFact(uid, fact.id),
    }),
    "Fact deleted",
  );
}

export function deleteEntity(uid, entity, relations) {
  return made(
    confirmAction({
      title: `Delete ${entity.name}?`,
      text: `The entity and its ${plural(relations, "relation")} are deleted, and not extracted again under any of its names.`,
      confirm: "Delete entity",
      work: () => edit.deleteEntity(uid, entity.id),
    }),
    `${entity.name} deleted`,
  );
}

export function relationText(relation) {
  return `${relation.subject.name} ${words(relation.predicate)} ${relation.object.name}`;
}

export function deleteRelation(uid, relation) {
  return made(
    confirmAction({
      title: "Delete this relation?",
      text: `${quoted(relationText(relation))} is deleted, and not extracted again.`,
      confirm: "Delete relation",
      work: () => edit.deleteRelation(uid, relation.id),
    }),
    "Relation deleted",
  );
}

export function addKnowledge(uid) {
  return made(
    editText({
      title: "Add knowledge",
      text: "A statement about the user, searched like the facts.",
      label: "Statement",
      confirm: "Add knowledge",
      work: (text) => edit.addKnowledge(uid, text),
    }),
    "Knowledge added",
  );
}

export function editKnowledge(uid, item) {
  return made(
    editText({
      title: "Edit knowledge",
      label: "Statement",
      value: item.content,
      confirm: "Save knowledge",
      work: (text) => edit.updateKnowledge(uid, item.id, text),
    }),
    "Knowledge saved",
  );
}

export function deleteKnowledge(uid, item) {
  return made(
    confirmAction({
      title: "Delete this knowledge?",
      text: `${quoted(item.content)} is deleted.`,
      confirm: "Delete knowledge",
      work: () => edit.deleteKnowledge(uid, item.id),
    }),
    "Knowledge deleted",
  );
}
