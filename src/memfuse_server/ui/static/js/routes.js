// Hash routes: every view has an address, so reload, back and links work.

const enc = encodeURIComponent;

function decode(part) {
  try {
    return decodeURIComponent(part);
  } catch {
    return part; // a malformed escape: keep the text as typed
  }
}

function withQuery(hash, params) {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) if (value) query.set(name, value);
  const text = query.toString();
  return text ? `${hash}?${text}` : hash;
}

/** Addresses of the views. */
export const to = {
  users: () => "#/users",
  sessions: (uid, sid, messageId) =>
    withQuery(`#/u/${enc(uid)}/sessions${sid ? `/${enc(sid)}` : ""}`, { m: messageId }),
  facts: (uid) => `#/u/${enc(uid)}/facts`,
  knowledge: (uid) => `#/u/${enc(uid)}/knowledge`,
  graph: (uid, eid) => `#/u/${enc(uid)}/graph${eid ? `/${enc(eid)}` : ""}`,
  query: (uid, params = {}) => withQuery(`#/u/${enc(uid)}/query`, params),
  status: () => "#/status",
};

/**
 * Match a hash against patterns like "u/:uid/graph/:eid".
 * Returns {name, params, query} for the first pattern that fits, or null.
 */
export function match(hash, patterns) {
  const [path, search = ""] = hash.replace(/^#\/?/, "").split("?");
  const parts = path.split("/").filter(Boolean).map(decode);
  for (const [pattern, name] of patterns) {
    const want = pattern.split("/");
    if (want.length !== parts.length) continue;
    const params = {};
    const fits = want.every((w, i) => {
      if (w.startsWith(":")) params[w.slice(1)] = parts[i];
      return w.startsWith(":") || w === parts[i];
    });
    if (fits) return { name, params, query: new URLSearchParams(search) };
  }
  return null;
}
