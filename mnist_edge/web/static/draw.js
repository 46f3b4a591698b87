// Draw pad: pointer events on a canvas (mouse, pen, touch), dark ink on white paper.
// On pen-up the canvas is POSTed as a PNG to /predict; the answer is shown with a bar chart.
"use strict";

const $ = (id) => document.getElementById(id);
const canvas = $("pad");
const ctx = canvas.getContext("2d");
const LINE_WIDTH = 20;      // px on the 280x280 canvas: about an MNIST stroke after scaling
const READ_DELAY_MS = 250;  // wait this long after pen-up, so a multi-stroke digit is read once

let drawing = false;
let last = null;
let timer = null;
let inFlight = 0;

function clearPad() {
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  $("result").textContent = "–";
  $("result").classList.add("empty");
  $("detail").textContent = "";
  $("charts").replaceChildren();
}

function point(event) {
  const rect = canvas.getBoundingClientRect();
  return {
    x: (event.clientX - rect.left) * (canvas.width / rect.width),
    y: (event.clientY - rect.top) * (canvas.height / rect.height),
  };
}

function strokeTo(p) {
  ctx.strokeStyle = "#000";
  ctx.lineWidth = LINE_WIDTH;
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  ctx.beginPath();
  ctx.moveTo(last.x, last.y);
  ctx.lineTo(p.x, p.y);
  ctx.stroke();
  last = p;
}

canvas.addEventListener("pointerdown", (event) => {
  event.preventDefault();
  canvas.setPointerCapture(event.pointerId);
  clearTimeout(timer);
  drawing = true;
  last = point(event);
  strokeTo(last);  // a tap leaves a dot
});

canvas.addEventListener("pointermove", (event) => {
  if (!drawing) return;
  const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [event];
  for (const e of events.length ? events : [event]) strokeTo(point(e));
});

function penUp(event) {
  if (!drawing) return;
  drawing = false;
  if (canvas.hasPointerCapture(event.pointerId)) canvas.releasePointerCapture(event.pointerId);
  timer = setTimeout(predict, READ_DELAY_MS);
}
canvas.addEventListener("pointerup", penUp);
canvas.addEventListener("pointercancel", penUp);

function chart(digit, index, count, labels) {
  const box = document.createElement("div");
  const title = document.createElement("div");
  title.className = "label";
  title.textContent = count > 1 ? `digit ${index + 1}: ${digit.label}` : "probabilities";
  const bars = document.createElement("div");
  bars.className = "chart";
  bars.setAttribute("role", "img");
  bars.setAttribute("aria-label", `probabilities for digit ${index + 1}`);
  digit.probabilities.forEach((p, k) => {
    // a model trained on class folders names its classes ("N", "blank"); MNIST's are 0-9
    const d = labels ? labels[k] : k;
    const col = document.createElement("div");
    col.className = d === digit.label ? "col top" : "col";
    col.dataset.digit = d;
    col.title = `${d}: ${(100 * p).toFixed(1)}%`;
    col.innerHTML = `<span class="p">${Math.round(100 * p)}</span>` +
      `<div class="bar-area"><div class="bar" style="height:${(100 * p).toFixed(1)}%"></div></div>` +
      `<span class="d">${d}</span>`;
    bars.appendChild(col);
  });
  box.append(title, bars);
  return box;
}

function show(answer, ms) {
  const digits = answer.digits;
  const result = $("result");
  result.classList.toggle("empty", digits.length === 0);
  result.textContent = digits.length ? digits.map((d) => d.label).join("") : "?";
  $("detail").textContent = digits.length
    ? digits.map((d) => `${d.label}: ${(100 * d.confidence).toFixed(1)}%`).join(", ") +
      ` (${ms.toFixed(0)} ms)`
    : "No digit found: draw a bigger one.";
  $("detail").classList.remove("error");
  $("charts").replaceChildren(...digits.map((d, i) => chart(d, i, digits.length, answer.labels)));
  result.dataset.state = "done";
}

function showError(text) {
  $("detail").textContent = text;
  $("detail").classList.add("error");
  $("result").dataset.state = "error";
}

// toDataURL, not toBlob: Chromium runs toBlob's encoder as an idle task, which can wait ~1 s
// when the page is busy or headless; the synchronous encode of 280x280 takes a millisecond.
function canvasPng() {
  const bytes = atob(canvas.toDataURL("image/png").split(",")[1]);
  const buffer = new Uint8Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) buffer[i] = bytes.charCodeAt(i);
  return new Blob([buffer], { type: "image/png" });
}

async function predict() {
  clearTimeout(timer);
  $("result").dataset.state = "busy";
  const started = performance.now();
  inFlight += 1;
  const mine = inFlight;
  try {
    const response = await fetch("/predict", {
      method: "POST", headers: { "Content-Type": "image/png" }, body: canvasPng(),
    });
    const answer = await response.json();
    if (mine !== inFlight) return;  // a newer drawing was sent meanwhile
    if (!response.ok) showError(answer.error || `error ${response.status}`);
    else show(answer, performance.now() - started);
  } catch (err) {
    showError("The server is not answering.");
  }
}

async function loadModel() {
  try {
    const status = await (await fetch("/status", { cache: "no-store" })).json();
    if (status.mode === "draw") {  // `mnist-edge serve`: no camera, so no live page
      document.querySelector('nav a[href="/"]').hidden = true;
    }
    const m = status.model || {};
    $("model").textContent = `model: ${m.name || "?"}` + (m.runtime ? ` (${m.runtime})` : "");
  } catch (err) { /* the pad still works without the label */ }
}

$("clear").addEventListener("click", clearPad);
$("predict").addEventListener("click", predict);
clearPad();
loadModel();
