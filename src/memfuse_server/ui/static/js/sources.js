// Source turns: the messages a fact, entity, relation or query result came from.
//
// A derived item names its source messages by id only, and messages are read per
// session (POST /sessions/{sid}/messages/read). So the browser learns which session
// holds each message by listing the user's sessions once (an index kept per user),
// then reads the sources of one item session by session.

import { api } from "./api.js";

const LIST_LIMIT = 1000; // the most GET .../messages returns at once
const PARALLEL = 4;

const indexes = new Map(); // user id -> Promise<{sessionOf, sessions, partial}>

async function inParallel(items, limit, work) {
  const queue = [...items];
  const workers = Array.from({ length: Math.min(limit, queue.length) }, async () => {
    while (queue.length) await work(queue.shift());
  });
  await Promise.all(workers);
}

/** A session's message ids: the newest 1000, and the oldest 1000 when there are more. */
async function sessionMessageIds(sid) {
  const newest = await api.messages(sid, { limit: LIST_LIMIT, order: "desc" });
  if (newest.length < LIST_LIMIT) return { ids: newest.map((m) => m.id), partial: false };
  const oldest = await api.messages(sid, { limit: LIST_LIMIT, order: "asc" });
  const ids = new Set([...newest, ...oldest].map((m) => m.id));
  return { ids: [...ids], partial: ids.size >= 2 * LIST_LIMIT };
}

async function build(uid) {
  const sessions = await api.sessions(uid);
  const index = { sessionOf: new Map(), sessions: new Map(), partial: false };
  await inParallel(sessions, PARALLEL, async (session) => {
    index.sessions.set(session.id, session);
    const { ids, partial } = await sessionMessageIds(session.id);
    for (const id of ids) index.sessionOf.set(id, session.id);
    index.partial ||= partial;
  });
  return index;
}

function messageIndex(uid, fresh = false) {
  if (fresh || !indexes.has(uid)) {
    const building = build(uid);
    building.catch(() => indexes.delete(uid)); // a failed build is retried next time
    indexes.set(uid, building);
  }
  return indexes.get(uid);
}

/** Forget what was learned of a user's sessions (after new messages were added). */
export function forgetIndex(uid) {
  indexes.delete(uid);
}

/**
 * The messages with these ids, in the given order, each with its `session`;
 * `missing` lists the ids no session of the user could be found for.
 */
export async function readSources(uid, ids) {
  let index = await messageIndex(uid);
  if (ids.some((id) => !index.sessionOf.has(id))) index = await messageIndex(uid, true);
  const bySession = new Map();
  for (const id of ids) {
    const sid = index.sessionOf.get(id);
    if (sid) bySession.set(sid, [...(bySession.get(sid) || []), id]);
  }
  const found = new Map();
  await inParallel([...bySession], PARALLEL, async ([sid, wanted]) => {
    for (const message of await api.readMessages(sid, wanted)) {
      found.set(message.id, { ...message, session: index.sessions.get(sid) });
    }
  });
  return {
    messages: ids.filter((id) => found.has(id)).map((id) => found.get(id)),
    missing: ids.filter((id) => !found.has(id)),
    partial: index.partial,
  };
}
