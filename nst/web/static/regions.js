// Portrait mode in the studio: a toggle under the content picker (it sets [loss] auto_regions
// in the settings form: checked = people, unchecked = faces, the default, which keeps the
// faces closer to the photo on its own) and a preview of the regions a run would find in the
// chosen photo (GET /api/images/<id>/regions, nst/web/regions.py). Uses app.js's `$`, `el`
// and `state`.
"use strict";

(function portraitMode() {
  const FIELD = "field-loss-auto_regions"; // the form's own select: off | faces | people
  const toggle = el("input", { type: "checkbox", id: "portrait-toggle" });
  const button = el("button", { type: "button", id: "regions-button" }, "Preview regions");
  const message = el("p", { class: "message", id: "regions-message", role: "status" });
  const picture = el("img", {
    id: "regions-picture",
    alt: "the regions found",
    hidden: true,
    style: "max-width: 100%; max-height: 260px",
  });
  const label = el("label", { for: "portrait-toggle" }, toggle, " Portrait mode (find people too)");
  $("content-message").after(el("div", { class: "regions" }, label, button, message, picture));

  const field = () => $(FIELD);
  const people = () => field() && field().value === "people";
  const sync = () => { if (field()) toggle.checked = people(); };
  toggle.addEventListener("change", () => {
    if (!field()) return;
    field().value = toggle.checked ? "people" : "faces";
    field().dispatchEvent(new Event("change"));
  });
  document.addEventListener("change", (event) => { if (event.target.id === FIELD) sync(); });
  document.addEventListener("nst-form-filled", sync); // a restored or loaded form
  const waiting = setInterval(() => { if (field()) { sync(); clearInterval(waiting); } }, 300);

  button.addEventListener("click", async () => {
    picture.hidden = true;
    if (!state.content) { message.textContent = "choose a content photo first"; return; }
    const find = people() ? "people" : "faces";
    message.textContent = find === "people" ? "looking for faces and people…" : "looking for faces…";
    const id = encodeURIComponent(state.content);
    const response = await fetch(`/api/images/${id}/regions?find=${find}`);
    if (!response.ok) {
      let text = `the preview failed (${response.status})`;
      try { text = (await response.json()).error || text; } catch (_) { /* not JSON */ }
      message.textContent = text;
      return;
    }
    if (picture.src) URL.revokeObjectURL(picture.src);
    picture.src = URL.createObjectURL(await response.blob());
    picture.hidden = false;
    const key = find === "people" ? " (red: faces, green: people)" : " (red: faces)";
    message.textContent = (response.headers.get("X-Regions") || "") + key;
  });
})();
