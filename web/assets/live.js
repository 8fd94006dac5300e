// Twinloom web view: the live-protocol client, run as a module Web Worker by app.js (docs/web.md).
// It follows docs/live-protocol.md off the page's main thread, so a busy renderer never slows the stream:
// open /v1/live, read hello, fetch every shop's JSON snapshot (/v1/snapshot?shop=NAME&format=json), pass on
// only deltas with seq > that shop's snapshot seq; on `resync` take snapshots again; on close or error
// reconnect with ?since=<last seq>&epoch=<epoch> and a growing back-off.
// To the page (postMessage): {kind:'badge'}, {kind:'snapshots'}, {kind:'deltas'} (batched every few ms),
// {kind:'command'}, {kind:'anomaly'}, {kind:'recommendations'}. From the page: {kind:'start', prims} (the scene's prim paths: only
// their attributes are passed on, as integer ids; see keep()).

const FLUSH_MS = 16;                // deltas are handed to the page in batches, at most this often

const st = {
  ws: null, epoch: null, lastSeq: 0, have: false, shops: [], shopSeq: new Map(),
  snapshotToken: 0, snapshotting: false, held: [], batch: [], attempt: 0, badge: 'offline',
  reconnects: 0, resyncs: 0,
  prims: null,                      // prim paths of the scene: only their attributes go to the page
  ids: new Map(),                   // attribute path -> small integer the page indexes its arrays with
  newIds: [],                       // [id, path] not yet sent to the page
};
// The stream is opened at once, in parallel with the page loading its scene; snapshots are handed over
// once the page has sent the scene's prims.
st.primsReady = new Promise((resolve) => { st.resolvePrims = resolve; });

function post(msg) { self.postMessage(msg); }
function setBadge(b) { if (st.badge !== b) { st.badge = b; post({ kind: 'badge', badge: b, epoch: st.epoch }); } }

function liveUrl() {
  const proto = self.location.protocol === 'https:' ? 'wss:' : 'ws:';
  const q = st.have && st.epoch !== null ? `?since=${st.lastSeq}&epoch=${st.epoch}` : '';
  return `${proto}//${self.location.host}/v1/live${q}`;
}

function connect() {
  const ws = new WebSocket(liveUrl());
  st.ws = ws;
  ws.onmessage = (ev) => { if (st.ws === ws) onMessage(JSON.parse(ev.data)); };
  ws.onclose = () => { if (st.ws === ws) reconnectLater(); };
  ws.onerror = () => {};  // a close event follows; reconnecting is done there
}

function reconnectLater() {
  st.ws = null;
  st.attempt += 1;
  st.reconnects += 1;
  setBadge(st.attempt > 3 || !st.have ? 'offline' : 'resuming');
  const delay = Math.min(5000, 250 * 2 ** Math.min(st.attempt, 5)) * (0.8 + 0.4 * Math.random());
  setTimeout(connect, delay);
}

function onMessage(msg) {
  switch (msg.type) {
    case 'hello':
      st.attempt = 0;
      st.shops = msg.shops || [];
      if (!st.have || st.epoch !== msg.epoch) {
        // First connection, or a server of another run: start from snapshots.
        st.epoch = msg.epoch;
        st.lastSeq = msg.seq;
        takeSnapshots();
      } else {
        setBadge('live');  // resumed: the missed deltas follow on this connection
      }
      break;
    case 'delta':
      st.lastSeq = msg.seq;
      if (st.snapshotting) st.held.push(msg); else forward(msg);
      break;
    case 'resync':
      st.resyncs += 1;
      st.lastSeq = msg.seq;
      takeSnapshots();
      break;
    case 'command':
      post({ kind: 'command', command: msg.command });
      break;
    case 'anomaly':
      post({ kind: 'anomaly', anomaly: msg });
      break;
    case 'recommendations':
      post({ kind: 'recommendations', items: msg.items || [] });
      break;
    default: break;  // pong, error, and message types a later protocol adds
  }
}

/** The edits of attributes of prims the page draws (the raw /Plant/Signals mirror is not drawn), as
 *  {ids, vals}: attribute paths become small integers (new ones announced in the batch), so the page
 *  applies an edit with an array store, no string hashing. null when an edit is not protocol 1's `set`. */
function keep(edits) {
  const ids = [], vals = [];
  for (const e of edits) {
    if (e.op !== 'set') return null;
    const p = e.path;
    let id = st.ids.get(p);
    if (id === undefined) {
      if (st.prims && !st.prims.has(p.slice(0, p.indexOf('.', p.lastIndexOf('/'))))) { st.ids.set(p, -1); continue; }
      id = st.ids.size;
      st.ids.set(p, id);
      st.newIds.push([id, p]);
    }
    if (id < 0) continue;
    ids.push(id);
    vals.push(e.value);
  }
  return { ids, vals };
}

/** A delta goes to the page when its shop's snapshot does not hold it already. */
function forward(d) {
  const since = st.shopSeq.get(d.shop);
  if (since !== undefined && d.seq <= since) return;
  const edits = keep(d.edits);
  // An edit kind protocol 1 does not know: do not guess, take snapshots again (docs/live-protocol.md).
  if (!edits) { takeSnapshots(); return; }
  // An empty delta still goes: it carries the seq the page has applied up to.
  st.batch.push({ seq: d.seq, shop: d.shop, ids: edits.ids, vals: edits.vals });
}

function takeNewIds() { const n = st.newIds; st.newIds = []; return n; }

setInterval(() => {
  if (!st.batch.length) return;
  post({ kind: 'deltas', newIds: takeNewIds(), deltas: st.batch, lastSeq: st.lastSeq, reconnects: st.reconnects, resyncs: st.resyncs });
  st.batch = [];
}, FLUSH_MS);

/** Every shop's JSON snapshot; deltas meanwhile are held and filtered by each shop's snapshot seq. */
async function takeSnapshots() {
  setBadge('resync');
  st.snapshotting = true;
  const token = ++st.snapshotToken;
  try {
    const snaps = await Promise.all(st.shops.map(async (shop) => {
      const url = `${shop.snapshot}${shop.snapshot.includes('?') ? '&' : '?'}format=json`;
      const r = await fetch(url, { headers: { Accept: 'application/json' } });
      if (!r.ok) return { shop: shop.name, missing: r.status, edits: [] };
      return r.json();
    }));
    await st.primsReady;
    if (token !== st.snapshotToken) return;  // a newer resync took over
    st.shopSeq.clear();
    for (const s of snaps) st.shopSeq.set(s.shop, s.missing ? -1 : s.seq);  // no snapshot: every delta
    st.batch = [];                                                          // older than the snapshots
    const kept = snaps.map((s) => ({ shop: s.shop, seq: s.seq, missing: s.missing, ...(keep(s.edits || []) || { ids: [], vals: [] }) }));
    post({ kind: 'snapshots', newIds: takeNewIds(), snapshots: kept, epoch: st.epoch, lastSeq: st.lastSeq });
    st.have = true;
    st.snapshotting = false;
    const held = st.held;
    st.held = [];
    held.forEach(forward);
    setBadge('live');
  } catch (e) {
    if (token !== st.snapshotToken) return;
    setBadge('offline');
    setTimeout(() => { if (token === st.snapshotToken) takeSnapshots(); }, 1000);
  }
}

self.onmessage = (ev) => {
  const m = ev.data || {};
  if (m.kind === 'start') {  // the page's scene is loaded: pass on the attributes of its prims
    st.prims = m.prims ? new Set(m.prims) : null;
    st.resolvePrims();
  }
};

connect();
