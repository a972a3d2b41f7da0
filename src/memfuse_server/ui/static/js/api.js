// The REST API (/api/v1), with the API key of this tab when one is set.

const BASE = new URL("../api/v1/", document.baseURI);
const KEY = "memfuse.apiKey";

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.name = "ApiError";
    this.status = status;
  }

  get needsKey() {
    return this.status === 401 || this.status === 403;
  }
}

export const apiKey = {
  get: () => sessionStorage.getItem(KEY) || "",
  set: (key) => sessionStorage.setItem(KEY, key),
  clear: () => sessionStorage.removeItem(KEY),
};

let onKeyNeeded = () => {};

/** Called with the error whenever the server answers 401 or 403. */
export function whenKeyNeeded(callback) {
  onKeyNeeded = callback;
}

function url(route, params) {
  const u = new URL(route.replace(/^\//, ""), BASE);
  for (const [name, value] of Object.entries(params || {})) {
    if (value !== undefined && value !== null && value !== "") u.searchParams.set(name, value);
  }
  return u;
}

async function call(method, route, { params, body } = {}) {
  const headers = { Accept: "application/json" };
  const key = apiKey.get();
  if (key) headers.Authorization = `Bearer ${key}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(url(route, params), {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, "The server cannot be reached. Is memfuse-server running?");
  }
  const payload = await response.json().catch(() => null);
  if (!response.ok) {
    const message = payload?.message || `${response.status} ${response.statusText}`;
    const error = new ApiError(response.status, message);
    if (error.needsKey) onKeyNeeded(error);
    throw error;
  }
  return payload?.data ?? {};
}

/** A path with its ids escaped: path`/users/${id}` */
function path(strings, ...ids) {
  return strings.reduce(
    (out, text, i) => out + text + (i < ids.length ? encodeURIComponent(ids[i]) : ""),
    "",
  );
}

const get = (route, params) => call("GET", route, { params });
const post = (route, body) => call("POST", route, { body });
const put = (route, body) => call("PUT", route, { body });
const del = (route, body) => call("DELETE", route, { body });

/** Every page of a list route (limit/offset), up to `max` items. */
async function pages(route, field, max = 5000, limit = 1000) {
  const items = [];
  while (items.length < max) {
    const page = (await get(route, { limit, offset: items.length }))[field];
    items.push(...page);
    if (page.length < limit) break;
  }
  return items;
}

export const api = {
  health: () => get("/health"),
  stats: () => get("/stats"),
  users: async () => (await get("/users")).users,
  user: async (uid) => (await get(path`/users/${uid}`)).user,
  sessions: async (uid) => (await get("/sessions", { user_id: uid })).sessions,
  messages: async (sid, params) => (await get(path`/sessions/${sid}/messages`, params)).messages,
  readMessages: async (sid, ids) =>
    (await post(path`/sessions/${sid}/messages/read`, { message_ids: ids })).messages,
  facts: async (uid, limit, offset) => (await get(path`/users/${uid}/facts`, { limit, offset })).facts,
  allEntities: (uid) => pages(path`/users/${uid}/entities`, "entities"),
  allRelations: (uid) => pages(path`/users/${uid}/relations`, "relations"),
  entity: (uid, eid) => get(path`/users/${uid}/entities/${eid}`),
  query: async (uid, body) => (await post(path`/users/${uid}/query`, body)).results,
  knowledge: async (uid) => (await get(path`/users/${uid}/knowledge`)).knowledge,
};

/** The changes the memory browser makes, each one REST call. */
export const edit = {
  updateMessage: (sid, id, message) =>
    put(path`/sessions/${sid}/messages`, { message_ids: [id], new_messages: [message] }),
  deleteMessage: (sid, id) => del(path`/sessions/${sid}/messages`, { message_ids: [id] }),
  deleteSession: (sid) => del(path`/sessions/${sid}`),
  deleteUser: (uid) => del(path`/users/${uid}`),
  deleteFact: (uid, id) => del(path`/users/${uid}/facts/${id}`),
  deleteEntity: (uid, id) => del(path`/users/${uid}/entities/${id}`),
  deleteRelation: (uid, id) => del(path`/users/${uid}/relations/${id}`),
  addKnowledge: (uid, text) => post(path`/users/${uid}/knowledge`, { knowledge: [text] }),
  updateKnowledge: (uid, id, text) =>
    put(path`/users/${uid}/knowledge`, { knowledge_ids: [id], new_knowledge: [text] }),
  deleteKnowledge: (uid, id) => del(path`/users/${uid}/knowledge`, { knowledge_ids: [id] }),
};
