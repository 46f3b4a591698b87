// The label page: every crop of the set as a tile; a key press files the selected one into a
// class folder (POST /label/move), and the next crop is selected at once, so sorting a few
// hundred crops is a run of key presses. A refused move selects its crop again and says why.
"use strict";
const grid = document.getElementById("grid");
const status = document.getElementById("status");
const show = document.getElementById("show");
const buttons = document.getElementById("classes");
let keys = {};      // key -> class (or discard folder) name
let counts = {};    // folder -> crops in it
let discard = "_discarded";
let selected = null;

function say(text, error) {
  status.textContent = text;
  status.dataset.state = error ? "error" : "ok";
}

function tiles() { return [...grid.querySelectorAll(".tile:not([hidden])")]; }

function select(tile) {
  if (selected) selected.classList.remove("selected");
  selected = tile || null;
  if (selected) {
    selected.classList.add("selected");
    selected.scrollIntoView({block: "nearest"});
  }
  grid.dataset.selected = selected ? selected.dataset.id : "";
}

function step(delta) {
  const all = tiles();
  if (!all.length) return;
  const i = all.indexOf(selected);
  select(all[Math.max(0, Math.min(all.length - 1, i < 0 ? 0 : i + delta))]);
}

function columns() {  // tiles in one row of the grid, for the up and down arrows
  const all = tiles();
  const n = all.findIndex((t) => all.length && t.offsetTop !== all[0].offsetTop);
  return n < 1 ? Math.max(1, all.length) : n;
}

function makeTile(crop) {
  const fig = document.createElement("figure");
  fig.className = "tile";
  fig.dataset.id = crop.id;
  fig.dataset.folder = crop.folder;
  const img = document.createElement("img");
  img.loading = "lazy";
  img.alt = crop.id;
  img.src = "/label/crop?id=" + encodeURIComponent(crop.id);
  const caption = document.createElement("figcaption");
  caption.textContent = crop.folder;
  fig.append(img, caption);
  fig.addEventListener("click", () => select(fig));
  return fig;
}

function showCounts() {
  for (const b of buttons.querySelectorAll("button[data-class]")) {
    const n = b.querySelector(".n");
    if (n) n.textContent = counts[b.dataset.class] || 0;
  }
}

async function move(to) {
  const tile = selected;
  if (!tile) { say("select a crop first (click one)", true); return; }
  if (tile.dataset.busy) return;
  const from = tile.dataset.id, folder = tile.dataset.folder;
  const all = tiles();
  tile.dataset.busy = "1";
  select(all[all.indexOf(tile) + 1]);  // the next crop, while this one is moved
  let answer;
  try {
    const r = await fetch("/label/move", {method: "POST",
      headers: {"Content-Type": "application/json"}, body: JSON.stringify({crop: from, to})});
    answer = await r.json();
    if (!r.ok) throw new Error(answer.error);
  } catch (e) {
    delete tile.dataset.busy;
    select(tile);
    say(`not moved: ${e.message || e}`, true);
    return;
  }
  delete tile.dataset.busy;
  counts[folder] = (counts[folder] || 1) - 1;
  counts[to] = (counts[to] || 0) + 1;
  if (to === discard) {
    tile.remove();
  } else {
    tile.dataset.id = answer.crop;
    tile.dataset.folder = to;
    tile.querySelector("figcaption").textContent = to;
    tile.classList.toggle("moved", answer.crop !== from);
  }
  showCounts();
  say(`${from} → ${answer.crop}`);
}

function addButton(name, key, label) {
  const b = document.createElement("button");
  b.type = "button";
  b.dataset.class = name;
  b.title = key ? `key: ${key}` : "no key: click";
  b.textContent = label;
  if (key && key !== name) {
    const k = document.createElement("kbd");
    k.textContent = key;
    b.append(" ", k);
  }
  const n = document.createElement("span");
  n.className = "n";
  b.append(n);
  b.addEventListener("click", () => move(name));
  buttons.append(b);
}

document.addEventListener("keydown", (ev) => {
  if (ev.ctrlKey || ev.metaKey || ev.altKey || ev.target === show) return;
  const arrows = {ArrowRight: 1, ArrowLeft: -1, ArrowDown: columns(), ArrowUp: -columns()};
  const to = keys[ev.key] || keys[ev.key.toLowerCase()];
  if (ev.key in arrows) step(arrows[ev.key]);
  else if (to) move(to);
  else return;
  ev.preventDefault();
});

show.addEventListener("change", () => {
  for (const t of grid.querySelectorAll(".tile")) {
    t.hidden = show.value !== "" && t.dataset.folder !== show.value;
  }
  select(tiles()[0]);
});

fetch("/label/state").then((r) => r.json()).then((state) => {
  document.getElementById("root").textContent = state.root;
  discard = state.discard.name;
  for (const c of state.classes) {
    counts[c.name] = c.count;
    if (c.key) keys[c.key] = c.name;
    addButton(c.name, c.key, c.name);
    if (c.count) show.append(new Option(`${c.name} (${c.count})`, c.name));
  }
  for (const k of state.discard.keys) keys[k] = discard;
  addButton(discard, "x", "discard");
  showCounts();
  grid.append(...state.crops.map(makeTile));
  select(tiles()[0]);
  say(state.crops.length ? `${state.crops.length} crops` : "no crops in this folder yet");
  grid.dataset.ready = "1";
}).catch((e) => say(`cannot load the crops: ${e}`, true));
