// The studio page: settings form made from the server's field definitions, image pickers,
// the live run (server-sent events), a run's evolution and the list of runs.
"use strict";

const $ = (id) => document.getElementById(id);
const state = {
  fields: [],
  content: null, // an image id
  styles: [], // [{id, blend}]
  images: new Map(), // id -> {id, name, thumbnail}
  jobs: [],
  watched: null, // the job shown in the live panel
  liveRows: [], // its records
  run: null, // the run shown in the run panel
  examples: [], // ids of the example paintings (--examples)
};

async function api(url, options = {}) {
  const response = await fetch(url, options);
  let body = null;
  try {
    body = await response.json();
  } catch (_) {
    body = { error: `${response.status} ${response.statusText}` };
  }
  return { ok: response.ok, status: response.status, body };
}

function postJSON(url, data) {
  return api(url, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(data || {}),
  });
}

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (value !== null && value !== undefined && value !== false) node.setAttribute(key, value);
  }
  for (const child of children) if (child !== null) node.append(child);
  return node;
}

// --- the settings form ------------------------------------------------------------------

function fieldInput(field) {
  const id = "field-" + field.name.replace(".", "-");
  let input;
  if (field.widget === "choice") {
    input = el("select", { id, name: field.name });
    for (const choice of field.choices) input.append(el("option", { value: choice }, choice));
  } else if (field.widget === "flag") {
    input = el("select", { id, name: field.name });
    for (const choice of ["true", "false"]) input.append(el("option", { value: choice }, choice));
  } else {
    const numeric = field.widget === "number";
    const images = field.widget === "images"; // masks: uploaded images, by their ids
    input = el("input", {
      id,
      name: field.name,
      type: "text",
      inputmode: numeric ? (field.step === "1" ? "numeric" : "decimal") : null,
      list: field.suggestions ? id + "-list" : images ? "image-ids" : null,
      placeholder: images ? (field.multiple ? "image ids, comma-separated" : "an image id") : null,
      spellcheck: "false",
    });
  }
  input.value = field.value;
  input.addEventListener("input", scheduleValidation);
  input.addEventListener("change", scheduleValidation);
  return input;
}

function fieldRow(field) {
  const input = fieldInput(field);
  const row = el(
    "div",
    { class: "field", "data-field": field.name },
    el("label", { for: input.id }, el("span", { class: "key" }, field.key),
      el("span", { class: "section" }, `[${field.section}]`)),
    input,
    el("p", { class: "doc" }, field.doc, el("span", { class: "default" }, ` (default ${field.default || "empty"})`)),
    el("p", { class: "message field-message" }),
  );
  if (field.suggestions) {
    const list = el("datalist", { id: input.id + "-list" });
    for (const word of field.suggestions) list.append(el("option", { value: word }));
    row.append(list);
  }
  return row;
}

function buildForm(fields) {
  state.fields = fields;
  const main = $("main-fields");
  const advanced = $("advanced-fields");
  main.replaceChildren();
  advanced.replaceChildren();
  const sections = new Map();
  for (const field of fields) {
    if (field.main) {
      main.append(fieldRow(field));
      continue;
    }
    if (!sections.has(field.section)) {
      const group = el("fieldset", { class: "fields" }, el("legend", {}, `[${field.section}]`));
      sections.set(field.section, group);
      advanced.append(group);
    }
    sections.get(field.section).append(fieldRow(field));
  }
}

// The chosen images and settings survive a reload or a restart of the server (this browser's
// storage); the server's own values come back with "Reset".
const SAVED = "nst-studio-form";

function saveForm() {
  if (!state.fields.length) return;
  const saved = { values: formValues(), content: state.content, styles: state.styles };
  try { localStorage.setItem(SAVED, JSON.stringify(saved)); } catch (_) { /* private mode */ }
}

function restoreForm() {
  let saved = null;
  try { saved = JSON.parse(localStorage.getItem(SAVED) || "null"); } catch (_) { saved = null; }
  if (!saved) return false;
  fillForm(saved.values || {});
  if (state.images.has(saved.content)) state.content = saved.content;
  const styles = (saved.styles || []).filter((style) => state.images.has(style.id));
  if (styles.length) state.styles = styles.map((style) => ({ id: style.id, blend: String(style.blend || "1") }));
  return true;
}

function formValues() {
  const values = {};
  for (const field of state.fields) {
    const input = document.querySelector(`[name="${field.name}"]`);
    if (input) values[field.name] = input.value.trim();
  }
  return values;
}

function fillForm(values) {
  for (const [name, value] of Object.entries(values)) {
    const input = document.querySelector(`[name="${name}"]`);
    if (!input) continue;
    // a choice saved under an older word (auto_regions' true/false) reads as its new one; a
    // word the select no longer offers leaves the field as the server gave it
    const field = state.fields.find((item) => item.name === name);
    const word = field && field.aliases && value in field.aliases ? field.aliases[value] : value;
    if (input.tagName === "SELECT" && ![...input.options].some((o) => o.value === word)) continue;
    input.value = word;
  }
  // setting .value fires no event: tell the parts that mirror a field (the portrait toggle)
  document.dispatchEvent(new CustomEvent("nst-form-filled"));
}

function showErrors(errors) {
  for (const row of document.querySelectorAll(".field")) {
    const message = errors[row.dataset.field] || "";
    row.querySelector(".field-message").textContent = message;
    row.classList.toggle("invalid", Boolean(message));
    if (message && row.closest("details")) row.closest("details").open = true;
  }
  const general = Object.entries(errors)
    .filter(([name]) => !document.querySelector(`.field[data-field="${name}"]`))
    .map(([, message]) => message);
  $("form-message").textContent = general.join(" ");
  $("form-message").dataset.kind = "error";
}

function request() {
  return {
    values: formValues(),
    content: state.content,
    styles: state.styles.map((style) => style.id),
    blend: state.styles.length > 1 ? state.styles.map((style) => style.blend.trim() || "1") : [],
  };
}

let validationTimer = null;
function scheduleValidation() {
  clearTimeout(validationTimer);
  validationTimer = setTimeout(validate, 300);
  saveForm();
}

// What would stop a run before it starts (the weights: a missing file, ImageNet weights
// that cannot be downloaded), shown next to Start on load and as the form changes.
async function checkRun() {
  const { ok, body } = await postJSON("/api/check", { values: formValues() });
  const problems = ok ? body.problems : [body.error];
  $("preflight").textContent = problems.length ? "Before you start: " + problems.join(" ") : "";
}

async function validate() {
  checkRun();
  if (!state.content || !state.styles.length) return;
  const { body } = await postJSON("/api/validate", request());
  if (body && body.errors) showErrors(body.errors);
}

async function start(event) {
  event.preventDefault();
  if (!state.content || !state.styles.length) {
    $("form-message").textContent = "Choose a content image and at least one style image.";
    return;
  }
  $("start").disabled = true;
  const { ok, body } = await postJSON("/api/jobs", request());
  $("start").disabled = false;
  if (!ok) {
    showErrors(body.errors || { "": body.error });
    return;
  }
  showErrors({});
  const running = state.jobs.find((job) => job.state === "running");
  if (!running) watch(body.id); // else it waits in the queue, shown under the button
  // the progress is where the eyes go next: Start is low in the form, Live at the top right
  const live = $("live-panel");
  if (live.getBoundingClientRect().top < 0 || live.getBoundingClientRect().top > window.innerHeight / 2) {
    live.scrollIntoView({ behavior: "smooth", block: "start" });
  }
}

// --- images ---------------------------------------------------------------------------

function remember(image) {
  state.images.set(image.id, image);
}

function thumb(image, extra = {}) {
  return el("img", { src: image.thumbnail, alt: image.name, title: image.name, ...extra });
}

// A clip (a video as the content) is marked with what its file says: frames and duration.
function clipFacts(image) {
  const clip = image.clip;
  if (!clip) return "";
  const duration = typeof clip.duration_s === "number" ? ` · ${clip.duration_s.toFixed(clip.duration_s < 10 ? 2 : 0)} s` : "";
  return `clip · ${clip.frames} frame${clip.frames === 1 ? "" : "s"}${duration} · ${clip.width}×${clip.height}`;
}

function clipMark(image) {
  return image.kind === "clip" ? el("span", { class: "clip-mark", "data-frames": String(image.clip.frames) }, clipFacts(image)) : null;
}

function renderImages() {
  const content = state.images.get(state.content);
  $("content-chosen").replaceChildren(
    ...(content ? [thumb(content, { class: "chosen-image" }), el("span", { class: "name" }, content.name), clipMark(content)] : []),
  );
  $("content-drop").classList.toggle("filled", Boolean(content));
  $("content-drop").classList.toggle("clip", Boolean(content && content.kind === "clip"));
  $("clip-note").hidden = !(content && content.kind === "clip");
  const list = $("styles-chosen");
  list.replaceChildren();
  state.styles.forEach((style, index) => {
    const image = state.images.get(style.id);
    if (!image) return;
    const weight = el("input", {
      type: "text", inputmode: "decimal", class: "blend", value: style.blend,
      "aria-label": "blend weight of " + image.name, title: "blend weight",
      oninput: (event) => { style.blend = event.target.value; scheduleValidation(); },
    });
    list.append(el("li", {}, thumb(image), el("span", { class: "name" }, image.name),
      state.styles.length > 1 ? weight : el("span", { class: "blend-note" }, "weight 1"),
      el("button", { type: "button", class: "remove", title: "remove",
        onclick: () => { state.styles.splice(index, 1); renderImages(); scheduleValidation(); } }, "×")));
  });
  $("style-drop").classList.toggle("filled", state.styles.length > 0);
  renderGallery();
}

function renderGallery() {
  const gallery = $("gallery");
  gallery.replaceChildren();
  for (const image of state.images.values()) {
    const clip = image.kind === "clip"; // a clip is only ever the content
    gallery.append(el("li", { "data-kind": image.kind || "image" }, thumb(image), el("span", { class: "name" }, image.name),
      clipMark(image),
      el("span", { class: "pick" },
        el("button", { type: "button", onclick: () => chooseContent(image.id) }, "content"),
        clip ? null : el("button", { type: "button", onclick: () => addStyle(image.id) }, "+ style"),
        el("button", { type: "button", class: "delete", title: "delete this image from the studio",
          "data-delete": image.id, onclick: () => deleteImage(image) }, "delete"))));
  }
  renderExamples();
  $("gallery-count").textContent = String(state.images.size);
  $("image-ids").replaceChildren(...[...state.images.values()].map((image) =>
    el("option", { value: image.id, label: image.name })));
}

function renderExamples() {
  const shown = state.examples.filter((id) => state.images.has(id));
  $("examples").replaceChildren(...shown.map((id) => {
    const image = state.images.get(id);
    return el("li", { "data-example": id }, thumb(image), el("span", { class: "name" }, image.name),
      el("span", { class: "pick" },
        el("button", { type: "button", onclick: () => addStyle(id) }, "+ style"),
        el("button", { type: "button", onclick: () => chooseContent(id) }, "content")));
  }));
  $("examples-note").textContent = shown.length
    ? "Click + style to paint in one of these."
    : "No example paintings here: start the studio with --examples FOLDER to offer a folder of paintings.";
}

async function deleteImage(image) {
  if (!window.confirm(`Delete ${image.name} from the studio's images? Runs made with it stay.`)) return;
  const { ok, body } = await postJSON(`/api/images/${encodeURIComponent(image.id)}/delete`, {});
  if (!ok) {
    $("style-message").textContent = body.error;
    return;
  }
  state.images.delete(image.id);
  if (state.content === image.id) state.content = null;
  state.styles = state.styles.filter((style) => style.id !== image.id);
  renderImages();
  saveForm();
}

function chooseContent(id) {
  state.content = id;
  renderImages();
  scheduleValidation();
}

function addStyle(id) {
  if (!state.styles.some((style) => style.id === id)) state.styles.push({ id, blend: "1" });
  renderImages();
  scheduleValidation();
}

async function upload(file, role) {
  const message = $(role + "-message");
  message.textContent = `uploading ${file.name}…`;
  const data = new FormData();
  data.append("file", file);
  const { ok, body } = await api("/api/images", { method: "POST", body: data });
  if (!ok) {
    message.textContent = body.error;
    return;
  }
  message.textContent = "";
  remember(body);
  if (role === "content") chooseContent(body.id);
  else if (body.kind === "clip") {
    message.textContent = `${body.name} is a clip: a style is a picture. The clip is kept: drop it on Content to paint it.`;
    renderGallery();
  } else addStyle(body.id);
}

function setUpDrop(role) {
  const drop = $(role + "-drop");
  const input = $(role + "-file");
  input.addEventListener("change", () => {
    for (const file of input.files) upload(file, role);
    input.value = "";
  });
  drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    const files = [...event.dataTransfer.files];
    for (const file of role === "content" ? files.slice(0, 1) : files) upload(file, role);
  });
}

async function loadImages() {
  const { body } = await api("/api/images");
  for (const image of body.images || []) remember(image);
  renderGallery();
}

// --- the live run -------------------------------------------------------------------

function formatSeconds(seconds) {
  if (!Number.isFinite(seconds)) return "–";
  if (seconds < 60) return `${Math.round(seconds)} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${Math.round(seconds % 60)} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

function formatLoss(value) {
  return typeof value === "number" ? value.toPrecision(3) : "not finite";
}

function watch(jobId) {
  if (state.watched === jobId) return;
  state.watched = jobId;
  const job = state.jobs.find((j) => j.id === jobId);
  state.liveRows = job && job.records ? [...job.records] : [];
  if (job && !job.records && job.run_id) followFinished(job); // a reload after it ended
  if (state.liveRows.length) {
    const lastImage = [...state.liveRows].reverse().find((row) => row.iterate);
    if (lastImage) showLiveImage(lastImage.iterate);
  }
  redrawLive();
  renderJob();
}

async function followFinished(job) {
  const { ok, body } = await api(`/api/runs/${encodeURIComponent(job.run_id)}`);
  if (!ok || state.watched !== job.id) return;
  state.liveRows = runRows(body.rows);
  const last = body.frames[body.frames.length - 1];
  if (last) showLiveImage(last.url);
  redrawLive();
  renderJob();
  if (!state.run) openRun(job.run_id);
}

function showLiveImage(url) {
  const image = $("live-image");
  if (image.getAttribute("src") === url) return;
  image.onload = () => { image.dataset.updates = String(Number(image.dataset.updates) + 1); };
  image.src = url;
}

function redrawLive() {
  const chart = $("live-chart");
  drawLosses(chart, state.liveRows, null);
  chart.dataset.points = String(state.liveRows.length);
  chart.dataset.updates = String(Number(chart.dataset.updates) + 1);
}

function onRecord(record) {
  if (record.job !== state.watched) {
    const running = state.jobs.find((job) => job.id === record.job);
    if (!running) return;
    watch(record.job); // a run started in another tab: follow it
  }
  state.liveRows.push(record);
  const job = state.jobs.find((j) => j.id === record.job);
  if (job) job.steps_done = record.step;
  if (record.iterate) showLiveImage(record.iterate);
  redrawLive();
  renderJob(record);
}

function renderJob(record) {
  const job = state.jobs.find((j) => j.id === state.watched);
  const bar = $("progress-bar");
  const stop = $("stop");
  if (!job) {
    stop.disabled = true;
    if (state.watched) { // the server restarted: that run ended there, its folder is listed
      $("live-status").textContent = "The studio restarted: that run has ended (see Runs below).";
      $("live-status").dataset.state = "gone";
      bar.dataset.state = "stopped";
    }
    return;
  }
  const last = record || state.liveRows[state.liveRows.length - 1];
  const fraction = job.steps ? Math.min(1, job.steps_done / job.steps) : 0;
  const clip = job.kind === "clip"; // its frames are its scales: one record stream per frame
  bar.style.width = `${(100 * (["done"].includes(job.state) ? 1 : fraction)).toFixed(1)}%`;
  bar.dataset.state = job.state;
  stop.disabled = !["queued", "running"].includes(job.state) || job.stop_requested;
  $("live-title").textContent = `${job.content} × ${job.styles.join(" + ")}`;
  let text;
  if (job.state === "queued") {
    text = `Waiting in the queue: position ${job.position}.`;
  } else if (job.state === "running") {
    if (!last) {
      text = clip ? "Starting: reading the clip, building the network…" : "Starting: checking the images, building the network…";
    } else if (clip) {
      const rate = last.step ? last.elapsed_s / last.step : NaN;
      text = `Frame ${last.scale}/${job.scales} · iteration ${last.iteration} · step ${last.step}/${job.steps} · ` +
        `${Math.round(100 * fraction)}% · ${formatSeconds(last.elapsed_s)} elapsed · ETA ${formatSeconds(rate * (job.steps - last.step))}` +
        (job.stop_requested ? " · stopping…" : "");
    } else {
      const scale = job.scales > 1 ? ` · scale ${last.scale}/${job.scales}` : "";
      const rate = last.step ? last.elapsed_s / last.step : NaN;
      const eta = formatSeconds(rate * (job.steps - last.step));
      const left = job.may_converge ? `at most ${eta} left (stops once converged)` : `ETA ${eta}`;
      text = `Iteration ${last.iteration}${scale} · step ${last.step}/${job.steps} · ` +
        `${Math.round(100 * fraction)}% · ${formatSeconds(last.elapsed_s)} elapsed · ${left}` +
        (job.stop_requested ? " · stopping…" : "");
    }
  } else {
    text = `Finished: ${job.state}` + (job.message ? ` (${job.message})` : "") + ".";
    if (job.state === "failed") bar.style.width = "100%";
  }
  $("live-status").textContent = text;
  $("live-status").dataset.state = job.state;
  if (last) {
    $("live-caption").textContent = (clip ? `frame ${last.scale} · ` : "") +
      `iteration ${last.iteration} · content ${formatLoss(last.content)} · style ${formatLoss(last.style)} · total ${formatLoss(last.total)}`;
  }
}

function onJobs(snapshot) {
  const before = new Map(state.jobs.map((job) => [job.id, job.state]));
  state.jobs = snapshot.jobs;
  const running = state.jobs.find((job) => job.state === "running");
  if (running) {
    watch(running.id); // the live panel always follows the running job
  } else if (!state.watched && state.jobs.length) {
    watch(state.jobs[0].id);
  }
  renderQueue(running);
  renderJob();
  renderFailed();
  for (const job of state.jobs) {
    const was = before.get(job.id);
    const finished = !["queued", "running"].includes(job.state);
    if (finished && was && was !== job.state) {
      loadRuns();
      if (job.id === state.watched && job.run_id) openRun(job.run_id);
    }
  }
}

function renderQueue(running) {
  const waiting = state.jobs.filter((job) => job.state === "queued");
  $("queue-info").textContent = running
    ? `1 running${waiting.length ? `, ${waiting.length} waiting` : ""}`
    : waiting.length ? `${waiting.length} waiting` : "";
  $("queue").replaceChildren(...waiting.map((job) => el("li", { "data-job": job.id },
    el("span", {}, `${job.position}. ${job.content} × ${job.styles.join(" + ")}, ` +
      (job.kind === "clip" ? "a clip" : `${job.steps} steps`)),
    el("button", { type: "button", class: "remove", title: "take it off the queue",
      onclick: () => postJSON(`/api/jobs/${encodeURIComponent(job.id)}/stop`, {}) }, "×"))));
}

async function stopWatched() {
  if (!state.watched) return;
  $("stop").disabled = true;
  await postJSON(`/api/jobs/${encodeURIComponent(state.watched)}/stop`, {});
}

function connect() {
  const source = new EventSource("/api/events");
  const status = $("connection");
  source.addEventListener("open", () => {
    status.textContent = "live";
    status.dataset.state = "open";
    loadRuns(); // a restart may have ended runs meanwhile
  });
  source.addEventListener("error", () => { status.textContent = "reconnecting…"; status.dataset.state = "error"; });
  source.addEventListener("jobs", (event) => onJobs(JSON.parse(event.data)));
  source.addEventListener("record", (event) => onRecord(JSON.parse(event.data)));
  source.addEventListener("closing", () => {
    status.textContent = "server stopped: waiting for it to start again…";
    status.dataset.state = "error";
    source.close();
    setTimeout(connect, 3000); // picks up where the restarted studio is
  });
}

// Jobs that failed before they had a run folder (a missing weights file, a refused image)
// stay at the head of the runs list with their reason, also after a restart of the studio,
// until they are dismissed here.
function renderFailed() {
  const failed = state.jobs.filter((job) => job.state === "failed" && !job.run_id);
  const list = $("runs");
  for (const card of list.querySelectorAll(".failed-job")) card.remove();
  for (const empty of list.querySelectorAll(".empty")) empty.hidden = failed.length > 0;
  for (const job of [...failed].reverse()) {
    list.prepend(el("li", { class: "run-card failed-job", "data-job": job.id },
      el("div", { class: "no-thumb" }),
      el("div", { class: "run-info" },
        el("span", { class: "badge", "data-status": "failed" }, "failed"),
        el("strong", {}, `${job.content} × ${job.styles.join(" + ")}`),
        el("span", { class: "why" }, job.message || "failed before it started"),
        el("button", { type: "button", class: "dismiss", title: "take it off the list",
          onclick: () => dismissJob(job) }, "Dismiss"))));
  }
}

async function dismissJob(job) {
  const { ok, body } = await postJSON(`/api/jobs/${encodeURIComponent(job.id)}/dismiss`, {});
  if (!ok) {
    $("form-message").textContent = body.error;
    return;
  }
  if (state.watched === job.id) { // the live panel showed it: nothing to show now
    state.watched = null;
    $("live-status").textContent = "No run yet: choose images, then Start.";
    delete $("live-status").dataset.state;
  }
  state.jobs = state.jobs.filter((other) => other.id !== job.id);
  renderFailed(); // the server's next snapshot says the same
}

// --- a run: evolution, plots, downloads ----------------------------------------------

function runRows(rows) {
  // x is the step across scales: rows with iteration 0 after the first are a new scale's start
  let offset = 0;
  let previous = null;
  return rows.map((row) => {
    if (previous !== null && row.scale !== previous.scale) offset = previous.step;
    const step = offset + row.iteration;
    previous = { scale: row.scale, step };
    return { ...row, step };
  });
}

async function openRun(runId) {
  const { ok, body } = await api(`/api/runs/${encodeURIComponent(runId)}`);
  if (!ok) {
    if (location.hash.startsWith("#run=")) {
      $("form-message").textContent = `No run ${runId} here (deleted, or in another results folder).`;
    }
    return;
  }
  state.run = body;
  state.run.steps = runRows(body.rows);
  const panel = $("run-panel");
  panel.hidden = false;
  history.replaceState(null, "", "#run=" + encodeURIComponent(body.id)); // a URL per run
  $("run-link").setAttribute("href", "#run=" + encodeURIComponent(body.id));
  $("run-message").textContent = "";
  showCompare(body);
  $("resume").hidden = !body.resumable;
  $("run-title").textContent = `${body.id}`;
  $("run-status").textContent = body.status;
  $("run-status").dataset.status = body.status;
  const slider = $("frame-slider");
  slider.max = String(Math.max(0, body.frames.length - 1));
  slider.value = slider.max;
  slider.disabled = body.frames.length < 2;
  showFrame();
  setLink($("download-final"), body.final ? body.final + "?download=1" : null);
  $("download-final").setAttribute("download", `${body.id}.png`);
  $("download-final").textContent = body.kind === "video" ? "Download last frame" : "Download picture";
  setLink($("download-print"), body.print ? body.print + "?download=1" : null);
  $("download-print").hidden = !body.print;
  setLink($("download-video"), body.video ? body.video + "?download=1" : null);
  setLink($("download-compare"), body.compare ? body.compare + "?download=1" : null);
  $("download-video").hidden = !body.video;
  $("download-compare").hidden = !body.compare;
  const player = $("run-video");
  player.hidden = !body.video;
  if (body.video) { if (player.getAttribute("src") !== body.video) player.src = body.video; }
  else player.removeAttribute("src");
  setLink($("download-zip"), body.zip);
  $("plots").replaceChildren(...body.plots.map((url) =>
    el("a", { href: url, target: "_blank" }, el("img", { src: url, alt: "loss plot", loading: "lazy" }))));
  $("run-config").textContent = body.config;
  for (const card of document.querySelectorAll(".run-card")) {
    card.classList.toggle("selected", card.dataset.run === body.id);
  }
}

function showCompare(run) {
  const possible = Boolean(run.photo && run.final && run.kind !== "video");
  $("compare-toggle").hidden = !possible;
  if (!possible) { $("compare").hidden = true; return; }
  $("compare-photo").src = run.photo;
  $("compare-result").src = run.view;
}

function toggleCompare() {
  const compare = $("compare");
  compare.hidden = !compare.hidden;
  $("compare-toggle").textContent = compare.hidden ? "Compare with the photo" : "Hide the compare";
  if (!compare.hidden) compare.scrollIntoView({ behavior: "smooth", block: "nearest" });
}

async function resumeRun() {
  if (!state.run) return;
  const { ok, body } = await postJSON(`/api/runs/${encodeURIComponent(state.run.id)}/resume`, {});
  if (!ok) {
    $("run-message").textContent = body.error;
    return;
  }
  $("resume").hidden = true;
  $("run-message").textContent = "Going on from where it stopped: follow it in Live.";
  const running = state.jobs.find((job) => job.state === "running");
  if (!running) watch(body.id);
}

async function deleteRun() {
  const run = state.run;
  if (!run || !window.confirm(`Delete the run ${run.id} and every file in its folder?`)) return;
  const { ok, body } = await postJSON(`/api/runs/${encodeURIComponent(run.id)}/delete`, {});
  if (!ok) {
    $("run-message").textContent = body.error;
    return;
  }
  state.run = null;
  $("run-panel").hidden = true;
  history.replaceState(null, "", location.pathname);
  loadRuns();
}

function runFromAddress() {
  const match = location.hash.match(/^#run=(.+)$/);
  if (match && (!state.run || state.run.id !== decodeURIComponent(match[1]))) {
    openRun(decodeURIComponent(match[1])).then(() => {
      if (state.run) $("run-panel").scrollIntoView({ block: "start" });
    });
  }
}

function setLink(link, url) {
  if (url) link.setAttribute("href", url);
  else link.removeAttribute("href");
  link.classList.toggle("disabled", !url);
}

function showFrame() {
  const run = state.run;
  if (!run) return;
  const frame = run.frames[Number($("frame-slider").value)];
  const caption = $("frame-caption");
  if (!frame) {
    $("frame-image").removeAttribute("src");
    caption.textContent = "no saved iterates";
    drawLosses($("run-chart"), run.steps, null);
    return;
  }
  $("frame-image").src = frame.url;
  const losses = frame.losses || {};
  const position = `${Number($("frame-slider").value) + 1}/${run.frames.length}`;
  caption.textContent = `iteration ${frame.iteration} [${position}] · content ${formatLoss(losses.content)}` +
    ` · style ${formatLoss(losses.style)} · total ${formatLoss(losses.total)}`;
  caption.dataset.iteration = String(frame.iteration);
  const full = run.steps.filter((row) => row.scale === Math.max(...run.steps.map((r) => r.scale)));
  const match = full.find((row) => row.iteration === frame.iteration);
  drawLosses($("run-chart"), run.steps, match ? match.step : null);
}

async function reuse() {
  if (!state.run) return;
  const { ok, body } = await postJSON(`/api/runs/${encodeURIComponent(state.run.id)}/reuse`, {});
  if (!ok) {
    $("form-message").textContent = body.error;
    return;
  }
  await loadImages();
  fillForm(body.values);
  if (body.content.length) state.content = body.content[0];
  if (body.styles.length) {
    state.styles = body.styles.map((id, i) => ({ id, blend: body.blend[i] || "1" }));
  }
  renderImages();
  showErrors({});
  $("settings-panel").scrollIntoView({ behavior: "smooth" });
  $("form-message").textContent = `Settings of ${state.run.id} loaded: change what you like, then Start.`;
  $("form-message").dataset.kind = "info";
}

// --- the runs list ---------------------------------------------------------------------

function formatDate(seconds) {
  const date = new Date(seconds * 1000);
  return date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

function runCard(run) {
  const card = el("li", { class: "run-card", "data-run": run.id, tabindex: "0",
    onclick: () => openRun(run.id),
    onkeydown: (event) => { if (event.key === "Enter") openRun(run.id); } },
  run.thumbnail ? el("img", { src: run.thumbnail, alt: "", loading: "lazy" }) : el("div", { class: "no-thumb" }),
  el("div", { class: "run-info" },
    el("span", { class: "badge", "data-status": run.status }, run.status),
    el("strong", {}, `${run.content} × ${run.styles.join(" + ")}`),
    el("span", {}, formatDate(run.started)),
    el("span", {}, `${run.iterations} it · ${run.duration_s === null ? "–" : formatSeconds(run.duration_s)}`)));
  if (state.run && state.run.id === run.id) card.classList.add("selected");
  return card;
}

async function loadRuns() {
  const { ok, body } = await api("/api/runs");
  if (!ok) return;
  const list = $("runs");
  list.replaceChildren();
  if (!body.runs.length) list.append(el("li", { class: "empty" }, "No runs yet."));
  for (const run of body.runs) list.append(runCard(run));
  // batch and sweep folders (python main.py --batch / --sweep): their runs, folded
  const open = new Set([...document.querySelectorAll(".batch[open]")].map((node) => node.dataset.batch));
  $("batches").replaceChildren(...(body.batches || []).map((batch) => el("details",
    { class: "batch", "data-batch": batch.id, open: open.has(batch.id) ? "" : null },
    el("summary", {}, `${batch.id} (${batch.runs.length} run${batch.runs.length === 1 ? "" : "s"})`),
    el("ul", { class: "runs" }, ...batch.runs.map(runCard)))));
  renderFailed();
}

function resetForm() {
  const body = state.serverForm;
  fillForm(Object.fromEntries(body.fields.map((field) => [field.name, field.value])));
  state.content = body.content[0] || null;
  state.styles = body.styles.map((id, i) => ({ id, blend: body.blend[i] || "1" }));
  renderImages();
  showErrors({});
  saveForm();
}

// --- start ---------------------------------------------------------------------------

async function init() {
  const { body } = await api("/api/form");
  buildForm(body.fields);
  $("results-dir").textContent = `in ${body.results_dir}`;
  await loadImages();
  state.content = body.content[0] || null;
  state.styles = body.styles.map((id, i) => ({ id, blend: body.blend[i] || "1" }));
  state.serverForm = body;
  state.examples = body.examples || [];
  restoreForm();
  renderImages();
  checkRun(); // weights or network problems show before Start
  $("reset-form").addEventListener("click", resetForm);
  setUpDrop("content");
  setUpDrop("style");
  $("settings-form").addEventListener("submit", start);
  $("stop").addEventListener("click", stopWatched);
  $("frame-slider").addEventListener("input", showFrame);
  $("reuse").addEventListener("click", reuse);
  $("compare-toggle").addEventListener("click", toggleCompare);
  $("resume").addEventListener("click", resumeRun);
  $("delete-run").addEventListener("click", deleteRun);
  window.addEventListener("hashchange", runFromAddress);
  window.addEventListener("resize", () => { redrawLive(); showFrame(); });
  redrawLive();
  connect();
  await loadRuns();
  runFromAddress();
}

init();
