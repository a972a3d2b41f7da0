// Dialogs that stand between a click and a change: a confirmation, or a text to edit.
//
// The change runs while the dialog is open ("Deleting…"): when it fails, the server's
// message is shown in the dialog and nothing closes, so the user can try again or cancel.

import { h, replace } from "./dom.js";

let made = 0; // for unique element ids

function frame({ title, text, confirm, danger, field }) {
  const n = ++made;
  const titleId = `action-title-${n}`;
  const textId = `action-text-${n}`;
  const problem = h("p", { class: "error", role: "alert", hidden: true });
  const cancel = h("button", { type: "button", class: "ghost" }, "Cancel");
  const ok = h("button", { type: "submit", class: danger ? "danger" : "primary" }, confirm);
  const form = h(
    "form",
    { method: "dialog" },
    h("h2", { id: titleId }, title),
    text ? h("p", { id: textId, class: "consequence" }, text) : null,
    field,
    problem,
    h("div", { class: "actions" }, cancel, ok),
  );
  const dialog = h(
    "dialog",
    { class: "action", "aria-labelledby": titleId, "aria-describedby": text ? textId : null },
    form,
  );
  return { dialog, form, cancel, ok, problem };
}

/** Show the dialog; `work()` makes the change. Resolves with its result, or null if cancelled. */
function run({ dialog, form, cancel, ok, problem }, work, busyText, focus) {
  document.body.append(dialog);
  const before = document.activeElement;
  return new Promise((resolve) => {
    let busy = false;
    const finish = (value) => {
      dialog.close();
      dialog.remove();
      if (value === null && before?.isConnected) before.focus(); // back where the user was
      resolve(value);
    };
    cancel.addEventListener("click", () => finish(null));
    dialog.addEventListener("cancel", (event) => {
      event.preventDefault(); // Escape: cancel, unless the change is on its way
      if (!busy) finish(null);
    });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (busy) return;
      busy = true;
      const label = ok.textContent;
      ok.textContent = busyText;
      ok.disabled = cancel.disabled = true;
      problem.hidden = true;
      try {
        finish(await work());
      } catch (error) {
        replace(problem, error.message);
        problem.hidden = false;
        ok.textContent = label;
        ok.disabled = cancel.disabled = false;
        busy = false;
      }
    });
    dialog.showModal();
    focus.focus();
  });
}

/**
 * Ask before a change that cannot be undone. `text` says what will happen; Cancel has the
 * focus, so Enter alone changes nothing. Resolves with what `work()` returned, or null.
 */
export function confirmAction({ title, text, confirm, work }) {
  const parts = frame({ title, text, confirm, danger: true });
  return run(parts, work, "Working…", parts.cancel);
}

/** Edit a text, then `work(text)` saves it. Resolves with what it returned, or null. */
export function editText({ title, text, label, value = "", confirm, work }) {
  const area = h("textarea", { id: `action-field-${made + 1}`, rows: "6", required: true });
  area.value = value;
  const parts = frame({ title, text, confirm, field: [h("label", { for: area.id }, label), area] });
  return run(parts, () => work(area.value), "Saving…", area);
}
