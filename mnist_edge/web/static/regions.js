// The regions page: boxes over the frame, in frame pixels; the canvas shows the frame at its
// own size (CSS may scale it: pointer positions are mapped back through the scale).
"use strict";
const canvas = document.getElementById("frame");
const ctx = canvas.getContext("2d");
const result = document.getElementById("result");
const frame = new Image();
const HANDLE = 8;   // px (frame pixels) of the resize corner
const MIN_SIDE = 8; // the config's smallest region
let boxes = [];     // [x, y, w, h]
let selected = -1;
let drag = null;    // {mode: "new" | "move" | "size", index, x0, y0, box}

function toFrame(ev) {
  const r = canvas.getBoundingClientRect();
  return [(ev.clientX - r.left) * canvas.width / r.width,
          (ev.clientY - r.top) * canvas.height / r.height];
}

function hit(x, y) {
  for (let i = boxes.length - 1; i >= 0; i--) {
    const [bx, by, bw, bh] = boxes[i];
    if (x >= bx && x <= bx + bw && y >= by && y <= by + bh) {
      const corner = x >= bx + bw - HANDLE && y >= by + bh - HANDLE;
      return {index: i, mode: corner ? "size" : "move"};
    }
  }
  return null;
}

function draw() {
  ctx.drawImage(frame, 0, 0);
  ctx.font = "14px sans-serif";
  order().forEach((i, n) => {
    const [x, y, w, h] = boxes[i];
    ctx.lineWidth = 2;
    ctx.strokeStyle = i === selected ? "#ff9800" : "#00c853";
    ctx.strokeRect(x + 0.5, y + 0.5, w, h);
    ctx.fillStyle = ctx.strokeStyle;
    ctx.fillRect(x + w - HANDLE, y + h - HANDLE, HANDLE, HANDLE);
    ctx.fillText(`d${n + 1}`, x, Math.max(12, y - 3));
  });
}

function order() {  // left to right: the order the config lists them in
  return boxes.map((b, i) => i).sort((a, b) => boxes[a][0] - boxes[b][0]);
}

function clamp(box) {
  let [x, y, w, h] = box.map(Math.round);
  if (w < 0) { x += w; w = -w; }
  if (h < 0) { y += h; h = -h; }
  x = Math.max(0, Math.min(x, canvas.width - 1));
  y = Math.max(0, Math.min(y, canvas.height - 1));
  w = Math.min(w, canvas.width - x);
  h = Math.min(h, canvas.height - y);
  return [x, y, w, h];
}

canvas.addEventListener("pointerdown", (ev) => {
  const [x, y] = toFrame(ev);
  const h = hit(x, y);
  if (h) {
    selected = h.index;
    drag = {mode: h.mode, index: h.index, x0: x, y0: y, box: boxes[h.index].slice()};
  } else {
    boxes.push([x, y, 0, 0]);
    selected = boxes.length - 1;
    drag = {mode: "new", index: selected, x0: x, y0: y, box: [x, y, 0, 0]};
  }
  canvas.setPointerCapture(ev.pointerId);
  draw();
});

canvas.addEventListener("pointermove", (ev) => {
  if (!drag) return;
  const [x, y] = toFrame(ev);
  const [bx, by, bw, bh] = drag.box;
  const dx = x - drag.x0, dy = y - drag.y0;
  if (drag.mode === "move") boxes[drag.index] = clamp([bx + dx, by + dy, bw, bh]);
  else boxes[drag.index] = clamp([bx, by, bw + dx, bh + dy]);
  draw();
});

canvas.addEventListener("pointerup", () => {
  if (drag && drag.mode !== "move") {
    const [, , w, h] = boxes[drag.index];
    if (w < MIN_SIDE || h < MIN_SIDE) {  // a click, not a box
      boxes.splice(drag.index, 1);
      selected = -1;
    }
  }
  drag = null;
  draw();
});

function removeSelected() {
  if (selected < 0) return;
  boxes.splice(selected, 1);
  selected = -1;
  draw();
}
document.getElementById("remove").addEventListener("click", removeSelected);
document.addEventListener("keydown", (ev) => {
  if (ev.key === "Delete" || ev.key === "Backspace") removeSelected();
});

document.getElementById("save").addEventListener("click", async () => {
  const sorted = order().map((i) => boxes[i]);
  result.textContent = "saving…";
  try {
    const r = await fetch("/regions", {method: "POST", headers: {"Content-Type": "application/json"},
                                       body: JSON.stringify({boxes: sorted})});
    const answer = await r.json();
    result.textContent = r.ok ? `saved: ${answer.summary}` : `not saved: ${answer.error}`;
    result.dataset.state = r.ok ? "saved" : "refused";
  } catch (e) {
    result.textContent = `not saved: ${e}`;
    result.dataset.state = "refused";
  }
});

fetch("/regions/state").then((r) => r.json()).then((state) => {
  canvas.width = state.size[0];
  canvas.height = state.size[1];
  boxes = state.boxes;
  frame.onload = () => { draw(); canvas.dataset.ready = "1"; };
  frame.src = "/regions/frame.png";
});
