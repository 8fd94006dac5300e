// Twinloom web view (issue 21, docs/web.md): draws the plant's layout from /v1/scene + /v1/scene.bin with the
// vendored three.js, follows the live protocol (docs/live-protocol.md: hello -> JSON snapshots per shop ->
// deltas, resync, resume with since/epoch) and shows station states, the selected prim's bound signals,
// active anomalies, pending commands and recommendations. Deltas are queued and applied once per animation frame.
// For tests: window.twinloomStats and window.twinloomDebug (bottom of this file).
import * as THREE from './vendor/three/three.module.min.js';
import { OrbitControls } from './vendor/three/OrbitControls.js';

// ---------------------------------------------------------------------------------------------------------
// Constants

/** Station state codes (docs/sample-plant.md, "Station state → colour"): the drum turns 72° per code. */
const STATES = [
  { name: 'idle', color: [1.0, 0.7, 0.0], icon: 'M2 1h2v8H2zM6 1h2v8H6z' },                 // pause bars
  { name: 'running', color: [0.1, 0.75, 0.2], icon: 'M2 1l7 4-7 4z' },                       // play
  { name: 'blocked', color: [0.1, 0.35, 0.95], icon: 'M5 0l5 5-5 5-5-5z' },                  // diamond
  { name: 'faulted', color: [0.9, 0.08, 0.08], icon: 'M5 0l5 10H0z' },                       // warning triangle
  { name: 'break', color: [0.8, 0.8, 0.8], icon: 'M1 3h6v4a2 2 0 0 1-2 2H3a2 2 0 0 1-2-2zM7 4h2v2H7z' }, // cup
];
const DRUM_STEP_DEG = 72;
/** Roles shown in the panel tree, and the label shown next to an entry. */
const TREE_ROLES = { site: 'site', area: 'area', line: 'line', station: 'station', paintBooth: 'booth',
  ovenZone: 'oven zone', conveyor: 'conveyor', robot: 'robot' };
/** Command states after which a command is no longer pending (docs/write-back.md, "States"). */
const FINAL_COMMAND_STATES = new Set(['refused', 'allowed', 'expired', 'verified', 'failed']);
const APPLY_BUDGET_MS = 3;        // most time one frame spends applying queued deltas (the rest waits a frame; matrices after)
const STATS_WINDOW = 2000;        // per-frame apply times kept for the p99

// ---------------------------------------------------------------------------------------------------------
// State

const nodes = [];                 // scene nodes (from /v1/scene) with .object (THREE.Object3D) and .ops
const nodeByPath = new Map();     // prim path -> node
const idOfPath = new Map();       // attribute path "<prim>.<attr>" -> id (assigned by the worker)
const valueById = [];             // id -> last value (snapshots + deltas)
const targetById = [];            // id -> what the attribute drives: {node, op, station}
const stations = [];              // station/booth nodes with a state lamp: {node, drum, code, text, ...}
const stationByDrum = new Map();  // drum prim path -> station entry
const dirtyNodes = new Set();     // nodes whose matrix must be recomputed this frame
const dirtyStations = new Set();  // station entries whose state must be redrawn this frame
const anomalies = new Map();      // episode id -> last anomaly message
let recommendations = [];         // the service's recommendations, by rank (GET /v1/recommendations, `recommendations` messages)
const commands = new Map();       // command id -> command
let eventsDirty = false;          // anomaly/command lists changed
let selected = null;              // selected node
let selectionDirty = false;       // a value shown in the selection changed

const live = {
  worker: null, epoch: null, lastSeq: 0, have: false, badge: 'offline', liveAfterSnapshot: false,
  queue: [],                      // snapshots and delta batches from the worker, for the next animation frame
};

const stats = {
  frames: 0, deltasApplied: 0, editsApplied: 0, applyTimes: [], firstRenderMs: null,
  resyncs: 0, reconnects: 0, snapshotsTaken: 0,
};

// ---------------------------------------------------------------------------------------------------------
// three.js scene

const view = document.getElementById('view');
const renderer = new THREE.WebGLRenderer({ antialias: false, preserveDrawingBuffer: true });
renderer.setPixelRatio(Math.min(window.devicePixelRatio || 1, 2));
const scene3 = new THREE.Scene();
scene3.background = new THREE.Color(0x20262d);
const camera = new THREE.PerspectiveCamera(45, 1, 0.1, 2000);
camera.up.set(0, 0, 1);                                     // the stage is Z-up
const controls = new OrbitControls(camera, renderer.domElement);
controls.listenToKeyEvents(renderer.domElement);          // arrow keys pan while the view has focus
controls.enableDamping = false;
scene3.add(new THREE.HemisphereLight(0xffffff, 0x404850, 2.2));
const sun = new THREE.DirectionalLight(0xffffff, 1.6);
sun.position.set(-40, -60, 80);
scene3.add(sun);
renderer.domElement.tabIndex = 0;
renderer.domElement.setAttribute('aria-label', 'plant 3D view');

const materials = new Map();      // colour key -> shared material
function material(rgb, flat) {
  const key = rgb.map((c) => c.toFixed(3)).join(',') + (flat ? 'f' : 's');
  let m = materials.get(key);
  if (!m) {
    // displayColor is linear RGB: Color.setRGB takes linear values in three's working colour space.
    // Front faces only (half the fill work in software rendering): the scene does not carry `orientation`;
    // the demo has no leftHanded meshes (docs/web.md, "Limits").
    m = new THREE.MeshLambertMaterial({ color: new THREE.Color().setRGB(rgb[0], rgb[1], rgb[2]), flatShading: flat,
      side: THREE.FrontSide });
    materials.set(key, m);
  }
  return m;
}
const stateMaterials = STATES.map((s) => new THREE.MeshBasicMaterial({ color: new THREE.Color().setRGB(...s.color) }));
const beaconGeometry = new THREE.SphereGeometry(0.5, 16, 12);
const highlight = new THREE.BoxHelper(undefined, 0xffd54a);
highlight.visible = false;
scene3.add(highlight);

function resize() {
  const w = view.clientWidth, h = view.clientHeight;
  renderer.setSize(w, h, false);
  camera.aspect = w / Math.max(h, 1);
  camera.updateProjectionMatrix();
}
new ResizeObserver(resize).observe(view);

// ---------------------------------------------------------------------------------------------------------
// Scene loading: /v1/scene (JSON) + /v1/scene.bin (int16 positions, uint16/32 indices)

/** One BufferGeometry per scene geometry (shared by every node that uses it). */
function buildGeometry(g, bin) {
  const [pOff, count] = g.positions;
  const q = new Int16Array(bin, pOff, count * 3);
  const pos = new Float32Array(count * 3);
  for (let i = 0; i < count; i++) {
    for (let a = 0; a < 3; a++) pos[i * 3 + a] = g.offset[a] + q[i * 3 + a] * g.scale[a];
  }
  const [iOff, iCount, width] = g.indices;
  const idx = width === 16 ? new Uint16Array(bin, iOff, iCount) : new Uint32Array(bin, iOff, iCount);
  const geo = new THREE.BufferGeometry();
  geo.setAttribute('position', new THREE.BufferAttribute(pos, 3));
  geo.setIndex(new THREE.BufferAttribute(idx.slice(), 1));
  geo.computeVertexNormals();
  geo.computeBoundingSphere();
  return geo;
}

/** The local matrix of a node from its xform ops, in order (USD: the first op is the outermost). */
const tmpM = new THREE.Matrix4(), tmpQ = new THREE.Quaternion(), tmpE = new THREE.Euler(), tmpV = new THREE.Vector3();
const D2R = Math.PI / 180;
function opsMatrix(ops, out) {
  out.identity();
  for (const op of ops) {
    const v = op.value;
    if (v === null || v === undefined) continue;  // an op without a value is the identity
    switch (op.kind) {
      case 'translate': tmpM.makeTranslation(v[0], v[1], v[2]); break;
      case 'scale': tmpM.makeScale(v[0], v[1], v[2]); break;
      case 'rotateX': tmpM.makeRotationX(v * D2R); break;
      case 'rotateY': tmpM.makeRotationY(v * D2R); break;
      case 'rotateZ': tmpM.makeRotationZ(v * D2R); break;
      case 'orient': tmpM.makeRotationFromQuaternion(tmpQ.set(v[1], v[2], v[3], v[0])); break;
      case 'transform': tmpM.fromArray(v); break;  // USD row-major, row vectors == three column-major
      default: {
        // rotateXYZ etc.: USD applies the first letter's axis first, i.e. three's Euler order reversed.
        const m = /^rotate([XYZ]{3})$/.exec(op.kind);
        if (!m) continue;
        const order = m[1].split('').reverse().join('');
        tmpM.makeRotationFromEuler(tmpE.set(v[0] * D2R, v[1] * D2R, v[2] * D2R, order));
      }
    }
    if (op.invert) tmpM.invert();  // `!invert!xformOp:…` in xformOpOrder
    out.multiply(tmpM);
  }
  return out;
}

async function fetchOk(url, what) {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${what}: HTTP ${r.status}`);
  return r;
}

async function loadScene() {
  const [scene, bin] = await Promise.all([
    fetchOk('/v1/scene', 'scene').then((r) => r.json()),
    fetchOk('/v1/scene.bin', 'scene.bin').then((r) => r.arrayBuffer()),
  ]);
  const geometries = scene.geometries.map((g) => buildGeometry(g, bin));
  const bigFlat = geometries.map((g) => g.attributes.position.count < 4000);  // machined parts: flat shading
  for (const n of scene.nodes) {
    const isMesh = n.mesh && geometries[n.mesh.geometry];
    const obj = isMesh
      ? new THREE.Mesh(geometries[n.mesh.geometry], material(n.mesh.color || [0.6, 0.6, 0.6], bigFlat[n.mesh.geometry]))
      : new THREE.Group();
    obj.matrixAutoUpdate = false;
    opsMatrix(n.ops || [], obj.matrix);
    obj.userData.node = n;
    n.object = obj;
    n.opByAttr = new Map((n.ops || []).map((op) => [op.attr, op]));
    n.children = [];
    nodes.push(n);
    nodeByPath.set(n.path, n);
  }
  for (const n of nodes) {
    const parent = n.parent >= 0 ? nodes[n.parent] : null;
    if (parent) { parent.object.add(n.object); parent.children.push(n); } else scene3.add(n.object);
    n.parentNode = parent;
  }
  // The building's walls would hide the plant from the outside: draw them see-through.
  for (const n of nodes) {
    if (/\/Building\/Walls/.test(n.path) && n.object.isMesh) {
      n.object.material = n.object.material.clone();
      Object.assign(n.object.material, { transparent: true, opacity: 0.18, depthWrite: false });
    }
  }
  // Stations and booths with a state lamp: the drum's rotateX carries the state code.
  for (const n of nodes) {
    const drum = nodeByPath.get(`${n.path}/StateLamp/Drum`);
    if (!drum) continue;
    const area = n.path.split('/')[2] || '';
    const st = { node: n, drum, code: null, text: '—', area, meshes: [], beacon: null, chip: null };
    drum.object.traverse((o) => { if (o.isMesh) st.meshes.push(o); });
    // A beacon above the lamp, so the state colour is seen from afar.
    const lamp = nodeByPath.get(`${n.path}/StateLamp`);
    st.beacon = new THREE.Mesh(beaconGeometry, stateMaterials[0]);
    st.beacon.position.set(0, 0, 3.2);
    st.beacon.userData.node = n;
    st.beacon.visible = false;
    lamp.object.add(st.beacon);
    stations.push(st);
    stationByDrum.set(drum.path, st);
    n.station = st;
    if (n.stateAttr) {  // the attribute carrying the state text, when the layout binds one
      const sn = nodeByPath.get(splitAttrPath(n.stateAttr)[0]);
      if (sn) sn.stateFor = st;
    }
  }
  scene3.updateMatrixWorld(true);
  buildTree();
  document.getElementById('loading').remove();
  view.prepend(renderer.domElement);
  resize();
  frameCamera();
}

/** Looks at the whole plant (the building left out) from the south-west, above. */
function frameCamera() {
  const box = new THREE.Box3();
  for (const n of nodes) if (n.object.isMesh && !/\/Building\//.test(n.path)) box.expandByObject(n.object);
  if (box.isEmpty()) box.setFromObject(scene3);
  const c = box.getCenter(new THREE.Vector3()), s = box.getSize(new THREE.Vector3());
  const halfFov = (camera.fov / 2) * D2R;
  const fit = Math.max(s.x / camera.aspect, s.y, 10);
  const dist = (fit / (2 * Math.tan(halfFov))) * 1.15;
  const dir = new THREE.Vector3(-0.1, -0.75, 0.9).normalize();
  controls.target.copy(c);
  camera.position.copy(c).addScaledVector(dir, dist);
  camera.near = dist / 200; camera.far = dist * 20;
  camera.updateProjectionMatrix();
  controls.update();
}

// ---------------------------------------------------------------------------------------------------------
// Values: snapshots and deltas write attribute values; ops and station states follow

/** Splits "<prim path>.<attr>" (prim names never contain '.'; attribute names never contain '/'). */
function splitAttrPath(p) {
  const i = p.indexOf('.', p.lastIndexOf('/'));
  return i < 0 ? [p, ''] : [p.slice(0, i), p.slice(i + 1)];
}

/** What an attribute path drives, worked out once per path when the worker announces its id. */
function learnId(id, path) {
  const [prim, attr] = splitAttrPath(path);
  const node = nodeByPath.get(prim) || null;
  const op = node ? node.opByAttr.get(attr) || null : null;
  const st = attr === 'xformOp:rotateX' ? stationByDrum.get(prim) || null : null;
  idOfPath.set(path, id);
  targetById[id] = { node, op, station: st || (node && node.stateFor) || null };
}

/** The last value the page holds for an attribute path. */
function valueOf(path) {
  const id = idOfPath.get(path);
  return id === undefined ? undefined : valueById[id];
}

/** Applies one delta's (or snapshot's) edits: ids and values from the worker. */
function applyEdits(ids, vals) {
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i], value = vals[i];
    valueById[id] = value;
    const t = targetById[id];
    const n = t.node;
    if (!n) continue;
    if (t.op && t.op.value !== value) {
      t.op.value = value;
      dirtyNodes.add(n);
    }
    if (t.station) dirtyStations.add(t.station);
    if (n.selectedBelow) selectionDirty = true;
  }
  stats.editsApplied += ids.length;
}

function stateOf(st) {
  const op = st.drum.opByAttr.get('xformOp:rotateX');
  if (!op || typeof op.value !== 'number') return null;
  return (((Math.round(op.value / DRUM_STEP_DEG)) % 5) + 5) % 5;
}
function stateName(st, code) {
  if (st.node.stateAttr && valueOf(st.node.stateAttr) !== undefined) return String(valueOf(st.node.stateAttr));
  if (code === null) return 'unknown';
  if (code === 2 && st.area === 'BIW') return 'welding';
  return STATES[code].name;
}
function chipHtml(code, text) {
  const cls = code === null ? '' : `s${code}`;
  const icon = code === null ? '' : `<svg viewBox="0 0 10 10" aria-hidden="true"><path d="${STATES[code].icon}"/></svg>`;
  return `<span class="state ${cls}" data-state="${escapeHtml(text)}">${icon}${escapeHtml(text)}</span>`;
}

/** Redraws a station's state: drum and beacon colour, the tree chip. */
function drawStation(st) {
  const code = stateOf(st);
  const text = stateName(st, code);
  if (code === st.code && text === st.text) return;
  st.code = code; st.text = text;
  if (code !== null) {
    for (const m of st.meshes) m.material = stateMaterials[code];
    st.beacon.material = stateMaterials[code];
    st.beacon.visible = true;
  }
  if (st.chip) st.chip.innerHTML = chipHtml(code, text);
  if (selected === st.node) selectionDirty = true;
}

// ---------------------------------------------------------------------------------------------------------
// The live protocol runs in a Web Worker (live.js): it keeps reading the stream while this thread renders,
// and hands over snapshots and batches of deltas, which wait in `live.queue` for the next animation frame.

function setBadge(b) {
  live.badge = b;
  document.getElementById('badge').className = `badge ${b}`;
  document.getElementById('badge-text').textContent = b;
}

function startLive() {
  const worker = new Worker(new URL('./live.js', import.meta.url), { type: 'module' });
  live.worker = worker;
  worker.onmessage = (ev) => {
    const m = ev.data;
    switch (m.kind) {
      case 'badge':
        if (m.badge === 'live' && live.queue.some((q) => q.kind === 'snapshots')) live.liveAfterSnapshot = true;
        else setBadge(m.badge);
        if (m.epoch !== undefined) live.epoch = m.epoch;
        break;
      case 'snapshots':
        for (const [id, path] of m.newIds) learnId(id, path);
        // Deltas still queued are older than these snapshots (the worker filters the rest): drop them.
        live.queue = [m];
        live.lastSeq = m.lastSeq;
        live.epoch = m.epoch;
        break;
      case 'deltas':
        for (const [id, path] of m.newIds) learnId(id, path);
        live.queue.push(m);
        live.lastSeq = m.lastSeq;
        stats.reconnects = m.reconnects;
        stats.resyncs = m.resyncs;
        break;
      case 'command':
        if (m.command && m.command.id) { commands.set(m.command.id, m.command); eventsDirty = true; }
        break;
      case 'anomaly':
        if (m.anomaly.event === 'close') anomalies.delete(m.anomaly.id); else anomalies.set(m.anomaly.id, m.anomaly);
        eventsDirty = true;
        break;
      case 'recommendations':
        recommendations = m.items;
        eventsDirty = true;
        break;
      default: break;
    }
  };
}

/** Applies queued snapshots and deltas within a time budget; returns the time spent (ms). */
function drainQueue() {
  const t0 = performance.now();
  while (live.queue.length) {
    const item = live.queue[0];
    if (item.kind === 'snapshots') {
      for (const s of item.snapshots) applyEdits(s.ids, s.vals);
      for (const st of stations) dirtyStations.add(st);
      stats.snapshotsTaken += 1;
      stats.snapshotFrame = true;  // not a delta frame: kept out of the apply-time statistics
      live.have = true;
      live.queue.shift();
      if (live.liveAfterSnapshot) { live.liveAfterSnapshot = false; setBadge('live'); }
      continue;
    }
    const ds = item.deltas;
    let i = item.next || 0;
    for (; i < ds.length; i++) {
      applyEdits(ds[i].ids, ds[i].vals);
      stats.deltasApplied += 1;
      stats.appliedSeq = ds[i].seq;
      if (performance.now() - t0 > APPLY_BUDGET_MS) { i++; break; }
    }
    if (i < ds.length) { item.next = i; break; }  // the rest next frame
    live.queue.shift();
  }
  // The matrices of moved nodes and the states of turned drums, once per frame.
  for (const n of dirtyNodes) { opsMatrix(n.ops, n.object.matrix); n.object.matrixWorldNeedsUpdate = true; }
  dirtyNodes.clear();
  for (const st of dirtyStations) drawStation(st);
  dirtyStations.clear();
  return performance.now() - t0;
}

// ---------------------------------------------------------------------------------------------------------
// Panel: tree (areas, lines, stations, …), selection, anomalies, commands

function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
}
function nameOf(path) { return path.slice(path.lastIndexOf('/') + 1); }

function buildTree() {
  const root = document.getElementById('tree');
  const treeChildren = (n) => {
    // The nearest descendants with a tree role, skipping the prims between.
    const out = [];
    const walk = (c) => { if (TREE_ROLES[c.role]) out.push(c); else c.children.forEach(walk); };
    n.children.forEach(walk);
    return out;
  };
  const make = (n, depth) => {
    const li = document.createElement('li');
    li.setAttribute('role', 'treeitem');
    li.setAttribute('aria-selected', 'false');
    li.tabIndex = -1;
    li.dataset.path = n.path;
    const kids = treeChildren(n);
    const row = document.createElement('div');
    row.className = 'row';
    row.innerHTML = `<span class="twisty" aria-hidden="true">${kids.length ? '▾' : ''}</span>`
      + `<span class="name">${escapeHtml(nameOf(n.path))}</span>`;
    if (n.station) {
      const chip = document.createElement('span');
      chip.className = 'chip';
      n.station.chip = chip;
      chip.innerHTML = chipHtml(null, '—');
      row.appendChild(chip);
    }
    const role = document.createElement('span');
    role.className = 'role';
    role.textContent = TREE_ROLES[n.role] || '';
    row.appendChild(role);
    li.appendChild(row);
    n.treeItem = li;
    if (kids.length) {
      // Robots start folded (a station's state is what matters at a glance).
      li.setAttribute('aria-expanded', depth < 3 && n.role !== 'station' && n.role !== 'paintBooth' ? 'true' : 'false');
      const ul = document.createElement('ul');
      ul.setAttribute('role', 'group');
      for (const k of kids) ul.appendChild(make(k, depth + 1));
      li.appendChild(ul);
    }
    row.addEventListener('click', (ev) => { ev.stopPropagation(); focusItem(li); select(n); });
    return li;
  };
  const top = nodes.find((n) => n.role === 'site') || nodes[0];
  root.appendChild(make(top, 0));
  root.firstChild.tabIndex = 0;
  root.addEventListener('keydown', onTreeKey);
}

function visibleItems() {
  return [...document.querySelectorAll('#tree li')].filter((li) => li.offsetParent !== null);
}
function focusItem(li) {
  for (const x of document.querySelectorAll('#tree li[tabindex="0"]')) x.tabIndex = -1;
  li.tabIndex = 0;
  li.focus();
}
function onTreeKey(ev) {
  const li = ev.target.closest('li[role="treeitem"]');
  if (!li) return;
  const items = visibleItems();
  const i = items.indexOf(li);
  const expanded = li.getAttribute('aria-expanded');
  let handled = true;
  switch (ev.key) {
    case 'ArrowDown': if (i + 1 < items.length) focusItem(items[i + 1]); break;
    case 'ArrowUp': if (i > 0) focusItem(items[i - 1]); break;
    case 'Home': focusItem(items[0]); break;
    case 'End': focusItem(items[items.length - 1]); break;
    case 'ArrowRight':
      if (expanded === 'false') li.setAttribute('aria-expanded', 'true');
      else if (expanded === 'true') focusItem(li.querySelector('li'));
      break;
    case 'ArrowLeft':
      if (expanded === 'true') li.setAttribute('aria-expanded', 'false');
      else { const p = li.parentElement.closest('li[role="treeitem"]'); if (p) focusItem(p); }
      break;
    case 'Enter': case ' ': select(nodeByPath.get(li.dataset.path)); break;
    default: handled = false;
  }
  if (handled) ev.preventDefault();
}

/** The node a click on an object selects: the nearest ancestor with a role (robot, station, …), or itself. */
function selectable(n) {
  for (let c = n; c; c = c.parentNode) if (c.role && c.role !== 'site' && c.role !== 'area') return c;
  return n;
}

function select(n) {
  if (selected) {
    if (selected.treeItem) selected.treeItem.setAttribute('aria-selected', 'false');
    selected.object.traverse((o) => { if (o.userData.node) o.userData.node.selectedBelow = false; });
  }
  selected = n || null;
  if (selected) {
    selected.object.traverse((o) => { if (o.userData.node) o.userData.node.selectedBelow = true; });
    if (selected.treeItem) {
      selected.treeItem.setAttribute('aria-selected', 'true');
      // Unfold the ancestors so the entry is visible.
      for (let p = selected.treeItem.parentElement.closest('li'); p; p = p.parentElement.closest('li')) p.setAttribute('aria-expanded', 'true');
      selected.treeItem.scrollIntoView({ block: 'nearest' });
    }
    highlight.setFromObject(selected.object);
  }
  highlight.visible = !!selected;
  selectionDirty = true;
}

/** The bound signals of a node and of every node below it: [{node, attribute, unit, address, path}]. */
function signalsOf(n) {
  const out = [];
  const walk = (c) => {
    for (const s of c.signals || []) out.push({ ...s, node: c, path: `${c.path}.${s.attribute}` });
    c.children.forEach(walk);
  };
  walk(n);
  return out;
}

function formatValue(v) {
  if (v === undefined) return '—';
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : v.toFixed(Math.abs(v) >= 100 ? 1 : 3);
  if (Array.isArray(v)) return v.map(formatValue).join(', ');
  return String(v);
}

function drawSelection() {
  const el = document.getElementById('selection');
  if (!selected) { el.innerHTML = '<p class="muted">nothing selected</p>'; return; }
  const n = selected;
  const sigs = signalsOf(n);
  let html = `<div><strong>${escapeHtml(nameOf(n.path))}</strong> <span class="muted">${escapeHtml(n.role || n.type)}</span></div>`
    + `<div class="path">${escapeHtml(n.path)}</div>`;
  if (n.station) html += `<div>state: ${chipHtml(n.station.code, n.station.text)}</div>`;
  // Static attributes of the layout (those a signal drives are in the table, live).
  const bound = new Set((n.signals || []).map((s) => s.attribute));
  for (const [k, v] of Object.entries(n.attributes || {})) {
    if (!bound.has(k)) html += `<div class="muted">${escapeHtml(k)}: ${escapeHtml(formatValue(v))}</div>`;
  }
  if (sigs.length) {
    html += '<table class="signals"><thead><tr><th>signal</th><th>unit</th><th>value</th></tr></thead><tbody>';
    for (const s of sigs.slice(0, 60)) {
      // Below the selection: "<first prim> <last prim>.<attribute>" (R03 Link4.xformOp:rotateZ) keeps rows short.
      const below = s.node === n ? [] : s.node.path.slice(n.path.length + 1).split('/');
      const rel = below.length === 0 ? s.attribute
        : below.length === 1 ? `${below[0]}.${s.attribute}` : `${below[0]} ${below[below.length - 1]}.${s.attribute}`;
      html += `<tr data-attr="${escapeHtml(s.path)}"><td title="${escapeHtml(`${s.path}\n${s.address || ''}`)}">${escapeHtml(rel)}</td>`
        + `<td>${escapeHtml(s.unit || '')}</td><td class="v" data-value="${escapeHtml(JSON.stringify(valueOf(s.path) ?? null))}">${escapeHtml(formatValue(valueOf(s.path)))}</td></tr>`;
    }
    html += '</tbody></table>';
    if (sigs.length > 60) html += `<p class="muted">${sigs.length - 60} more signals below this prim</p>`;
  } else {
    html += '<p class="muted">no bound signals</p>';
  }
  el.innerHTML = html;
}

function drawEvents() {
  const aEl = document.getElementById('anomalies');
  const active = [...anomalies.values()].sort((a, b) => (b.score || 0) - (a.score || 0));
  document.getElementById('anomaly-count').textContent = String(active.length);
  aEl.innerHTML = active.length ? active.slice(0, 30).map((a) => {
    const [prim] = splitAttrPath(a.path || '');
    const target = nodeByPath.has(prim) ? `<button class="link" data-select="${escapeHtml(prim)}">${escapeHtml(a.path)}</button>` : `<span class="path">${escapeHtml(a.path)}</span>`;
    return `<li class="anomaly">${target}<div>score ${formatValue(a.peakScore ?? a.score)} · ${escapeHtml(formatValue(a.value))} ${escapeHtml(a.unit || '')}</div>`
      + `<div class="muted">${escapeHtml(a.explanation || '')}</div></li>`;
  }).join('') : '<li class="muted">none</li>';
  const pending = [...commands.values()].filter((c) => !FINAL_COMMAND_STATES.has(c.state));
  document.getElementById('command-count').textContent = String(pending.length);
  const cEl = document.getElementById('commands');
  cEl.innerHTML = pending.length ? pending.slice(0, 30).map((c) => `<li class="command"><div class="path">${escapeHtml(c.target)}</div>`
    + `<div>${escapeHtml(formatValue(c.value))} · <strong>${escapeHtml(c.state)}</strong> · ${escapeHtml(c.requested_by || '')}</div>`
    + `<div class="muted">${escapeHtml(c.reason || '')}</div></li>`).join('') : '<li class="muted">none</li>';
  const open = recommendations.filter((r) => r.state !== 'rejected');
  document.getElementById('recommendation-count').textContent = String(open.length);
  const rEl = document.getElementById('recommendations');
  rEl.innerHTML = open.length ? open.slice(0, 20).map((r) => {
    const target = nodeByPath.has(r.target) ? `<button class="link" data-select="${escapeHtml(r.target)}">${escapeHtml(r.target)}</button>` : `<span class="path">${escapeHtml(r.target || '')}</span>`;
    const effect = r.significant ? `${r.change >= 0 ? '+' : ''}${formatValue(r.change)} ± ${formatValue(r.ci95)} ${escapeHtml(r.unit || '')}` : 'no clear gain';
    return `<li class="recommendation">#${escapeHtml(String(r.rank))} ${escapeHtml(r.kind || '')} · ${target}`
      + `<div>${escapeHtml(effect)} · <strong>${escapeHtml(r.state || 'proposed')}</strong>${r.stateBy ? ' · ' + escapeHtml(r.stateBy) : ''}</div>`
      + `<div class="muted">${escapeHtml(r.explanation || '')}</div></li>`;
  }).join('') : '<li class="muted">none</li>';
}
// The recommendations there are when the page opens (later changes come as `recommendations` messages).
fetch('/v1/recommendations').then((r) => r.ok ? r.json() : null).then((m) => {
  if (m && Array.isArray(m.items)) { recommendations = m.items; eventsDirty = true; }
}).catch(() => {});
for (const id of ['anomalies', 'recommendations']) document.getElementById(id).addEventListener('click', (ev) => {
  const b = ev.target.closest('button[data-select]');
  if (b) select(selectable(nodeByPath.get(b.dataset.select)));
});

// Click (not drag) in the 3D view picks the object under the pointer.
const raycaster = new THREE.Raycaster();
let downAt = null;
renderer.domElement.addEventListener('pointerdown', (ev) => { downAt = [ev.clientX, ev.clientY]; });
renderer.domElement.addEventListener('pointerup', (ev) => {
  if (!downAt || Math.hypot(ev.clientX - downAt[0], ev.clientY - downAt[1]) > 4) return;
  const r = renderer.domElement.getBoundingClientRect();
  const p = new THREE.Vector2(((ev.clientX - r.left) / r.width) * 2 - 1, -((ev.clientY - r.top) / r.height) * 2 + 1);
  raycaster.setFromCamera(p, camera);
  const hit = raycaster.intersectObjects(scene3.children, true).find((h) => h.object.userData.node && h.object.visible
    && !/\/Building\//.test(h.object.userData.node.path));
  select(hit ? selectable(hit.object.userData.node) : null);
});

// ---------------------------------------------------------------------------------------------------------
// The frame loop: apply queued deltas (measured), update the panel, render

let lastPanel = 0;
function frame(now) {
  requestAnimationFrame(frame);
  const applied = live.queue.length > 0;
  stats.snapshotFrame = false;
  const ms = drainQueue();
  if (applied && !stats.snapshotFrame) {
    stats.applyTimes.push(ms);
    if (stats.applyTimes.length > STATS_WINDOW) stats.applyTimes.splice(0, stats.applyTimes.length - STATS_WINDOW);
  }
  // The panel's text at most 5 times a second (DOM work is not free).
  if (now - lastPanel > 200) {
    lastPanel = now;
    document.getElementById('seq').textContent = `seq ${live.lastSeq}`;
    if (selectionDirty) { selectionDirty = false; drawSelection(); }
    if (eventsDirty) { eventsDirty = false; drawEvents(); }
  }
  controls.update();
  if (selected) highlight.setFromObject(selected.object);
  renderer.render(scene3, camera);
  stats.frames += 1;
  if (stats.firstRenderMs === null && live.have) stats.firstRenderMs = performance.now();
}

// ---------------------------------------------------------------------------------------------------------
// For tests and the curious: window.twinloomStats and window.twinloomDebug

window.twinloomStats = {
  get frames() { return stats.frames; },
  get lastSeq() { return live.lastSeq; },
  get appliedSeq() { return stats.appliedSeq || 0; },
  get badge() { return live.badge; },
  get epoch() { return live.epoch; },
  get firstRenderMs() { return stats.firstRenderMs; },
  get deltasApplied() { return stats.deltasApplied; },
  get editsApplied() { return stats.editsApplied; },
  get queued() { return live.queue.reduce((n, q) => n + (q.deltas ? q.deltas.length - (q.next || 0) : 1), 0); },
  get resyncs() { return stats.resyncs; },
  get reconnects() { return stats.reconnects; },
  get snapshotsTaken() { return stats.snapshotsTaken; },
  get nodes() { return nodes.length; },
  /** The p-th percentile (default 99) of the per-frame delta apply time over the last frames with deltas, ms. */
  applyMsP99(p = 99) {
    const a = [...stats.applyTimes].sort((x, y) => x - y);
    return a.length ? a[Math.min(a.length - 1, Math.floor((p / 100) * a.length))] : 0;
  },
  applyFrames() { return stats.applyTimes.length; },
  resetApplyTimes() { stats.applyTimes.length = 0; },
};

window.twinloomDebug = {
  /** World matrix (16 numbers, column-major) of the node at a prim path, or null. */
  nodeWorldMatrix(path) {
    const n = nodeByPath.get(path);
    if (!n) return null;
    n.object.updateWorldMatrix(true, false);
    return n.object.matrixWorld.toArray();
  },
  /** The last value the page holds for "<prim>.<attr>". */
  value(attrPath) { return valueOf(attrPath); },
  /** Screen position (CSS px in the page) of a node's origin, to click on it. */
  screenPoint(path) {
    const n = nodeByPath.get(path);
    if (!n) return null;
    const v = new THREE.Vector3().setFromMatrixPosition(n.object.matrixWorld).project(camera);
    const r = renderer.domElement.getBoundingClientRect();
    return { x: r.left + (v.x + 1) / 2 * r.width, y: r.top + (1 - v.y) / 2 * r.height };
  },
  /** A station's state as shown: {code, text, chip (panel text)}. */
  stationState(path) {
    const n = nodeByPath.get(path);
    if (!n || !n.station) return null;
    const b = new THREE.Vector3().setFromMatrixPosition(n.station.beacon.matrixWorld).project(camera);
    const r = renderer.domElement.getBoundingClientRect();
    const chip = n.station.chip && n.station.chip.querySelector('.state');
    return { code: n.station.code, text: n.station.text, chip: chip ? chip.textContent : null,
      chipClass: chip ? chip.className : null, drum: n.station.drum.path,
      beacon: { x: r.left + (b.x + 1) / 2 * r.width, y: r.top + (1 - b.y) / 2 * r.height } };
  },
  stations() { return stations.map((s) => s.node.path); },
  /** Ids and states of the recommendations the page lists (rejected ones are left out). */
  recommendations() { return recommendations.filter((r) => r.state !== 'rejected').map((r) => [r.id, r.state || 'proposed']); },
  /** Ids of the active anomalies and of the pending commands the page lists. */
  anomalies() { return [...anomalies.keys()].sort((a, b) => a - b); },
  commands() { return [...commands.values()].filter((c) => !FINAL_COMMAND_STATES.has(c.state)).map((c) => c.id); },
  /** The protocol state: per-shop snapshot seq, last seq, the first queued deltas. */
  protocol() {
    return { lastSeq: live.lastSeq, appliedSeq: stats.appliedSeq || 0, epoch: live.epoch, have: live.have,
      queue: live.queue.map((q) => q.kind) };
  },
  selected() { return selected ? selected.path : null; },
  select(path) { select(nodeByPath.get(path) || null); },
  /** Aim the camera: target and eye positions (world, metres). */
  look(target, eye) {
    controls.target.set(...target); camera.position.set(...eye); controls.update(); camera.updateMatrixWorld();
  },
  /** Screen position of a world point. */
  project(p) {
    const v = new THREE.Vector3(...p).project(camera);
    const r = renderer.domElement.getBoundingClientRect();
    return { x: r.left + (v.x + 1) / 2 * r.width, y: r.top + (1 - v.y) / 2 * r.height };
  },
  worldPosition(path) {
    const n = nodeByPath.get(path);
    return n ? new THREE.Vector3().setFromMatrixPosition(n.object.matrixWorld).toArray() : null;
  },
};

// ---------------------------------------------------------------------------------------------------------
// Start: the live worker and the scene (the layout is static) in parallel; render once the scene is built.

startLive();  // the stream and the snapshots load in the worker while this thread loads the scene
loadScene().then(() => {
  live.worker.postMessage({ kind: 'start', prims: nodes.map((n) => n.path) });
  requestAnimationFrame(frame);
}).catch((e) => {
  document.getElementById('loading').textContent = `could not load the plant: ${e.message}`;
  console.error('twinloom: could not load the scene', e);
});
