// The API key prompt: shown on demand and whenever the server answers 401 or 403.

import { apiKey, whenKeyNeeded } from "./api.js";

let changed = () => {};

function dialog() {
  return document.getElementById("key-dialog");
}

function showKeyState() {
  const button = document.getElementById("key-button");
  const set = Boolean(apiKey.get());
  button.textContent = set ? "API key: set" : "API key";
  button.setAttribute("aria-label", set ? "API key (one is set): change or forget it" : "Enter an API key");
}

/** Open the prompt; `reason` says why it is shown. */
export function openKeyDialog(reason = "Enter the API key to use for this server.") {
  const box = dialog();
  if (box.open) return;
  document.getElementById("key-reason").textContent = reason;
  const input = document.getElementById("key-input");
  input.value = "";
  box.returnValue = "";
  box.showModal();
  input.focus();
}

function closed() {
  const value = dialog().returnValue;
  const key = document.getElementById("key-input").value.trim();
  if (value === "save" && key) apiKey.set(key);
  else if (value === "forget") apiKey.clear();
  else return;
  showKeyState();
  changed();
}

/** Wire the prompt; `onChange` runs after a key was entered or forgotten. */
export function setupKeyDialog(onChange) {
  changed = onChange;
  dialog().addEventListener("close", closed);
  document.getElementById("key-forget").addEventListener("click", () => dialog().close("forget"));
  document.getElementById("key-cancel").addEventListener("click", () => dialog().close("cancel"));
  document.getElementById("key-button").addEventListener("click", () => openKeyDialog());
  whenKeyNeeded((error) => {
    // 401: no key or a wrong one (the server says which); 403: a key of another user.
    openKeyDialog(error.status === 401 ? error.message : `The key in use may not do this: ${error.message}`);
  });
  showKeyState();
}
