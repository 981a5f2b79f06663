// The page of `cudai2v serve`: submits a job, follows its events, shows the frames as they are decoded and then the
// video, lists recent jobs.
// Every call goes through fetch() so that an API key, when the server has one, travels in the Authorization header.
"use strict";
const $ = (id) => document.getElementById(id);

function headers() {
  const key = $("apiKey").value || localStorage.getItem("cudai2v-key") || "";
  if ($("apiKey").value) localStorage.setItem("cudai2v-key", $("apiKey").value);
  return key ? { Authorization: "Bearer " + key } : {};
}

async function api(path, init = {}) {
  const response = await fetch(path, { ...init, headers: { ...headers(), ...(init.headers || {}) } });
  if (!response.ok) {
    let detail = response.statusText;
    try { const p = await response.json(); detail = p.detail + (p.field ? " (" + p.field + ")" : ""); } catch (_) { /* not JSON */ }
    throw new Error(response.status + ": " + detail);
  }
  return response;
}

function say(text, error = false) {
  $("message").textContent = text;
  $("message").className = error ? "error" : "";
}

function options() {
  // A preset is the engine's (release, fast, draft): the server fills in its sampler, steps and guidance.
  const o = { prompt: $("prompt").value };
  if ($("preset").value) o.preset = $("preset").value;
  if ($("frameCount").value !== "") o.frames = Number($("frameCount").value);
  if ($("negativePrompt").value) o.negativePrompt = $("negativePrompt").value;
  if ($("size").value) { const [h, w] = $("size").value.split("x").map(Number); o.height = h; o.width = w; }
  if ($("seed").value !== "") o.seed = Number($("seed").value);
  return o;
}

$("submit").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = new FormData();
  form.append("image", $("image").files[0]);
  form.append("options", JSON.stringify(options()));
  try {
    const job = await (await api("/v1/videos", { method: "POST", body: form })).json();
    say("Submitted job " + job.id + ".");
    follow(job.id);
    listJobs();
  } catch (e) { say(e.message, true); }
});

function show(job) {
  $("current").hidden = false;
  $("jobId").textContent = job.id;
  $("state").textContent = job.state;
  $("state").className = job.state;
  const p = job.progress;
  if (p) {
    $("bar").max = Math.max(p.totalSteps, 1);
    $("bar").value = p.step;
    const left = p.remainingSeconds == null ? "" : ", about " + p.remainingSeconds.toFixed(1) + " s left";
    $("stage").textContent = p.stage + " " + p.step + "/" + p.totalSteps + left;
  }
  if (job.state === "failed") $("stage").textContent = job.error;
  showPreview(job);
  showFrames(job);
}

// While denoising: the latest latent preview (each frame's latents mapped to RGB), replaced as previewStep grows,
// until the decoded frames take over.
let previewShown = 0;
async function showPreview(job) {
  const step = job.previewStep || 0;
  if (job.id !== framesJob || step <= previewShown || (job.framesReady || 0) > 0 || job.state !== "running") {
    if ((job.framesReady || 0) > 0) $("preview").hidden = true;
    return;
  }
  previewShown = step;
  try {
    const blob = await (await api("/v1/jobs/" + job.id + "/preview")).blob();
    if (job.id !== framesJob || framesShown > 0) return;
    const old = $("preview").src;
    Object.assign($("preview"), { src: URL.createObjectURL(blob), title: "latent preview after step " + step, hidden: false });
    if (old) URL.revokeObjectURL(old);
  } catch (e) { /* ended meanwhile */ }
}

// The frames decoded so far (framesReady grows as the VAE decodes chunks), appended in order, each fetched once.
let framesJob = null, framesShown = 0, framesLoading = Promise.resolve();
function showFrames(job) {
  if (job.id !== framesJob) return;
  const ready = job.framesReady || 0;
  while (framesShown < ready) {
    const index = framesShown++;
    framesLoading = framesLoading.then(async () => {
      try {
        const blob = await (await api("/v1/jobs/" + job.id + "/frames/" + index)).blob();
        if (job.id !== framesJob) return;
        const img = document.createElement("img");
        Object.assign(img, { src: URL.createObjectURL(blob), alt: "frame " + index, title: "frame " + index, className: "frame" });
        $("frames").append(img);
      } catch (e) { /* canceled meanwhile: its frames are gone */ }
    });
  }
}

// Reads the job's server-sent events through fetch (EventSource cannot send the Authorization header).
async function follow(id) {
  $("result").replaceChildren();
  $("frames").replaceChildren();
  framesJob = id;
  framesShown = 0;
  previewShown = 0;
  $("preview").hidden = true;
  try {
    const response = await api("/v1/jobs/" + id + "/events");
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "", job = null;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = block.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n");
        if (data) { job = JSON.parse(data); show(job); }
      }
    }
    await framesLoading;
    if (job && job.state === "succeeded") await showVideo(job);
    listJobs();
  } catch (e) { say(e.message, true); }
}

async function showVideo(job) {
  const format = job.formats[0];
  const blob = await (await api("/v1/jobs/" + job.id + "/video?format=" + format)).blob();
  const url = URL.createObjectURL(blob);
  let element;
  if (format === "mp4") {
    element = document.createElement("video");
    Object.assign(element, { src: url, controls: true, loop: true, muted: true, autoplay: true });
  } else {
    element = document.createElement("img");
    Object.assign(element, { src: url, alt: "the video of job " + job.id });
  }
  element.id = "video";
  const link = document.createElement("a");
  Object.assign(link, { href: url, download: job.id + "." + format, textContent: "download" });
  $("result").replaceChildren(element, document.createElement("br"), link);
}

async function cancel(id) {
  try { await api("/v1/jobs/" + id + "/cancel", { method: "POST" }); } catch (e) { say(e.message, true); }
  listJobs();
}

async function listJobs() {
  try {
    const page = await (await api("/v1/jobs?limit=20")).json();
    const rows = page.jobs.map((job) => {
      const tr = document.createElement("tr");
      const cells = [job.id.slice(0, 8), job.state, job.settings.prompt, new Date(job.createdAt).toLocaleTimeString()];
      for (const text of cells) { const td = document.createElement("td"); td.textContent = text; tr.append(td); }
      tr.children[1].className = job.state;
      const actions = document.createElement("td");
      const view = document.createElement("button");
      Object.assign(view, { type: "button", textContent: "view" });
      view.onclick = () => follow(job.id);
      actions.append(view);
      if (job.state === "queued" || job.state === "running") {
        const stop = document.createElement("button");
        Object.assign(stop, { type: "button", textContent: "cancel" });
        stop.onclick = () => cancel(job.id);
        actions.append(stop);
      }
      tr.append(actions);
      return tr;
    });
    $("jobs").tBodies[0].replaceChildren(...rows);
  } catch (e) { say(e.message, true); }
}

async function ready() {
  try {
    const response = await fetch("/readyz", { headers: headers() });
    const body = await response.json();
    $("ready").textContent = response.ok ? "ready: " + body.detail : body.status + (body.detail ? ": " + body.detail : "");
  } catch (e) { $("ready").textContent = "the server does not answer"; }
}

$("refresh").addEventListener("click", listJobs);
ready();
listJobs();
