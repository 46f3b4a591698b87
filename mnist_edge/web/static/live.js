// Live page: the <img> shows /stream.mjpg; /status is polled for the reading, FPS and camera.
"use strict";

const $ = (id) => document.getElementById(id);
const POLL_MS = 300;

function modelText(model) {
  if (!model || !model.name) return "model: ?";
  let text = `model: ${model.name}`;
  if (model.runtime) text += ` (${model.runtime})`;
  const acc = model.test_accuracy ?? model.accuracy;
  if (typeof acc === "number") text += `, ${(100 * acc).toFixed(2)}% on MNIST test`;
  return text;
}

function showDigits(digits) {
  const reading = $("reading");
  reading.textContent = digits.length ? digits.map((d) => d.label).join("") : "–";
  reading.classList.toggle("empty", digits.length === 0);
  const table = $("digits");
  table.replaceChildren(...digits.map((d) => {
    const row = document.createElement("tr");
    const pct = Math.round(100 * d.confidence);
    row.innerHTML = `<td class="digit">${d.label}</td>` +
      `<td><div class="meter"><div style="width:${pct}%"></div></div></td><td>${pct}%</td>`;
    return row;
  }));
}

function showCamera(camera) {
  const badge = $("camera");
  badge.className = `badge ${camera.state}`;
  badge.textContent = camera.state === "live" ? "live" : "no signal";
  const overlay = $("overlay");
  overlay.hidden = camera.state === "live";
  if (!overlay.hidden) {
    overlay.textContent = camera.message || "waiting for the camera…";
  }
}

function showOffline() {
  $("reading").classList.add("stale");
  $("fps").textContent = "–";
  const badge = $("camera");
  badge.className = "badge offline";
  badge.textContent = "server unreachable";
  $("overlay").hidden = false;
  $("overlay").textContent = "The server is not answering; retrying…";
}

async function poll() {
  try {
    const response = await fetch("/status", { cache: "no-store" });
    const status = await response.json();
    $("model").textContent = modelText(status.model);
    showCamera(status.camera);
    showDigits(status.reading ? status.reading.digits : []);
    $("reading").classList.toggle("stale", status.camera.state !== "live");
    $("fps").textContent = status.fps ? status.fps.toFixed(1) : "–";
    $("frame").textContent = status.reading ? status.reading.frame : "–";
    $("viewers").textContent = status.viewers;
    if (streamBroken) restartStream();
  } catch (err) {
    showOffline();
  }
  setTimeout(poll, POLL_MS);
}

// If the stream breaks (server restarted, network blip), reconnect once the server answers.
let streamBroken = false;
$("stream").addEventListener("error", () => { streamBroken = true; });
function restartStream() {
  streamBroken = false;
  $("stream").src = `/stream.mjpg?t=${Date.now()}`;
}

poll();
