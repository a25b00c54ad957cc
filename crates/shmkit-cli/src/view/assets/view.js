// shmkit view: the pages' one script. No framework, no build step, no network but this server.
//
// A segment's page asks for one frame at a time over its WebSocket ("next"), draws the newest
// one it got at the next animation frame and asks for the following one right then: at most
// one frame is on its way, so the page shows frames at the display rate and never queues a
// backlog. window.shmkitView exposes what was shown, for tests and for the curious.
"use strict";

const $ = (id) => document.getElementById(id);
const socketUrl = (path, params) => {
  const q = new URLSearchParams(params);
  q.delete("token");
  return `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${path}?${q}`;
};
const el = (tag, text, cls) => {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (cls) e.className = cls;
  return e;
};
const bytes = (n) => {
  if (n === null || n === undefined) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let u = 0;
  while (n >= 1024 && u < units.length - 1) { n /= 1024; u++; }
  return u === 0 ? `${n} B` : `${n.toFixed(1)} ${units[u]}`;
};
const ago = (iso) => {
  if (!iso) return "never";
  const s = (Date.now() - Date.parse(iso)) / 1000;
  return s < 1 ? "now" : `${s.toFixed(0)} s ago`;
};
const showError = (text) => { const e = $("error"); e.textContent = text; e.hidden = !text; };

// ---- the index -------------------------------------------------------------------------------

function indexPage() {
  window.shmkitIndex = { names: [], updates: 0 };
  const connect = () => {
    const ws = new WebSocket(socketUrl("/ws/index", {}));
    ws.onmessage = (ev) => {
      const msg = JSON.parse(ev.data);
      if (msg.type === "error") { showError(msg.message); return; }
      showError("");
      const body = $("segments").tBodies[0];
      body.replaceChildren();
      for (const s of msg.segments) {
        const tr = el("tr");
        const name = el("td");
        const target = s.target !== undefined ? s.target : s.name;
        if (target) {
          const a = el("a", s.name);
          a.href = `/view?${new URLSearchParams({ target })}`;
          name.append(a);
        } else {
          name.textContent = s.name;
        }
        tr.append(name, el("td", s.kind), el("td", s.format || ""), el("td", bytes(s.size), "num"),
                  el("td", s.state), el("td", s.holders ? s.holders.join(", ") : "?"));
        body.append(tr);
      }
      $("summary").textContent = `${msg.segments.length} segments, live`;
      window.shmkitIndex = { names: msg.segments.map((s) => s.name),
                             updates: window.shmkitIndex.updates + 1 };
    };
    ws.onclose = () => { $("summary").textContent = "disconnected; retrying…"; setTimeout(connect, 1000); };
  };
  connect();
}

// ---- a segment's page ------------------------------------------------------------------------

function viewPage() {
  const params = new URLSearchParams(location.search);
  const target = params.get("target");
  document.title = `${target} — shmkit view`;
  $("name").textContent = target;
  const state = {
    drawn: 0, received: 0, fps: 0, seq: null, lost: 0, meta: null, kind: null,
    paused: false, error: null, publishRate: null, updateRate: null,
  };
  window.shmkitView = state;
  let latest = null;        // the newest item received, not drawn yet
  let shown = null;         // the item on screen (for Save)
  let inFlight = false;
  let scheduled = false;
  const drawTimes = [];
  let ws = null;

  const ask = () => {
    if (!state.paused && !inFlight && ws && ws.readyState === WebSocket.OPEN) {
      inFlight = true;
      ws.send("next");
    }
  };

  const only = (id) => {
    for (const x of ["canvas", "image", "text"]) $(x).hidden = x !== id;
  };

  let imageUrl = null;
  const draw = () => {
    scheduled = false;
    const item = latest;
    latest = null;
    if (!item) return;
    ask(); // the next frame travels while this one is drawn
    const m = item.meta;
    if (m.show === "rgba") {
      const c = $("canvas");
      if (c.width !== m.width || c.height !== m.height) { c.width = m.width; c.height = m.height; }
      const data = new Uint8ClampedArray(item.buf, item.offset, m.width * m.height * 4);
      c.getContext("2d").putImageData(new ImageData(data, m.width, m.height), 0, 0);
      only("canvas");
    } else if (m.show === "image") {
      if (imageUrl) URL.revokeObjectURL(imageUrl);
      imageUrl = URL.createObjectURL(new Blob([item.payload()], { type: m.mime }));
      $("image").src = imageUrl;
      only("image");
    } else if (m.show === "text") {
      let text = new TextDecoder().decode(item.payload());
      if (m.mime && (m.mime === "application/json" || m.mime.endsWith("+json"))) {
        try { text = JSON.stringify(JSON.parse(text), null, 2); } catch (e) { /* shown as is */ }
      }
      $("text").textContent = text;
      only("text");
    } else {
      $("text").textContent = hexdump(item.payload(), m.len);
      only("text");
    }
    shown = item;
    state.drawn++;
    state.seq = m.seq;
    state.lost += m.lost;
    state.meta = m;
    drawTimes.push(performance.now());
    state.fps = rate();
    $("seq").textContent = m.seq;
    $("lost").textContent = state.lost;
    $("note").textContent = m.note || "";
    updateAge();
  };

  const updateAge = () => {
    const m = state.meta;
    if (!m || !m.time_ns) { $("age").textContent = "–"; return; }
    const ms = Date.now() - m.time_ns / 1e6;
    $("age").textContent = `${Math.max(0, ms).toFixed(0)} ms`;
  };
  // Frames drawn per second over the last second: intervals between draws, not a count of
  // draws in a window (which says 31 for 30 fps half the time).
  const rate = () => {
    const now = performance.now();
    while (drawTimes.length && drawTimes[0] < now - 1000) drawTimes.shift();
    if (drawTimes.length < 2) return drawTimes.length;
    return (drawTimes.length - 1) * 1000 / (drawTimes[drawTimes.length - 1] - drawTimes[0]);
  };
  setInterval(() => {
    state.fps = rate();
    $("fps").textContent = state.fps.toFixed(1);
  }, 250);

  let lastInfo = null;
  const figures = (pairs) => {
    const dl = $("figures");
    dl.replaceChildren();
    for (const [k, v] of pairs) dl.append(el("dt", k), el("dd", v));
  };
  const subRates = new Map();
  const onInfo = (seg, at) => {
    const pairs = [["state", seg.state], ["holders", seg.holders ? seg.holders.join(", ") : "?"],
                   ["size", bytes(seg.size)]];
    const dt = lastInfo ? (at - lastInfo.at) / 1000 : null;
    if (seg.stream) {
      const s = seg.stream;
      const before = lastInfo && lastInfo.seg.stream;
      if (before && dt > 0) {
        state.publishRate = (s.frames - before.frames) / dt;
        pairs.push(["published", `${state.publishRate.toFixed(1)} frames/s, ${bytes((s.bytes - before.bytes) / dt)}/s`]);
      }
      pairs.push(["frames", `${s.frames} (${bytes(s.bytes)}), next #${s.next_seq}`]);
      pairs.push(["last publish", ago(s.last_publish)]);
      pairs.push(["ring", `${bytes(s.ring)}, frames up to ${bytes(s.max_frame)}, policy ${s.policy}`]);
      const body = $("subscribers").tBodies[0];
      body.replaceChildren();
      for (const sub of s.subscribers) {
        const key = `${sub.pid}`;
        const prev = subRates.get(key);
        const rate = prev && dt > 0 ? ((sub.received - prev) / dt).toFixed(1) : "…";
        subRates.set(key, sub.received);
        const tr = el("tr");
        tr.append(el("td", sub.pid, "num"), el("td", sub.lag, "num"), el("td", sub.lost, "num"),
                  el("td", sub.received, "num"), el("td", rate, "num"), el("td", ago(sub.last_receive)));
        body.append(tr);
      }
      $("subscribers").hidden = s.subscribers.length === 0;
    } else if (seg.cell) {
      const c = seg.cell;
      const before = lastInfo && lastInfo.seg.cell;
      if (before && dt > 0) {
        state.updateRate = (c.seq - before.seq) / dt;
        pairs.push(["updates", `${state.updateRate.toFixed(1)}/s`]);
      }
      pairs.push(["sequence", `#${c.seq}`], ["capacity", bytes(c.capacity)],
                 ["last publish", ago(c.last_publish)]);
    }
    if (seg.problem) pairs.push(["problem", seg.problem]);
    figures(pairs);
    lastInfo = { seg, at };
  };

  const connect = () => {
    ws = new WebSocket(socketUrl("/ws/view", params));
    ws.binaryType = "arraybuffer";
    ws.onopen = () => { inFlight = false; ask(); };
    ws.onmessage = (ev) => {
      if (typeof ev.data === "string") {
        const msg = JSON.parse(ev.data);
        if (msg.type === "hello") {
          state.kind = msg.kind;
          $("kind").textContent = msg.kind;
          $("format").textContent = msg.format || "(format not said)";
        } else if (msg.type === "info") {
          showError("");
          onInfo(msg.segment, performance.now());
        } else if (msg.type === "error" || msg.type === "gone") {
          state.error = msg.message;
          showError(msg.message);
        }
        return;
      }
      inFlight = false;
      const view = new DataView(ev.data);
      const metaLen = view.getUint32(0, true);
      const meta = JSON.parse(new TextDecoder().decode(new Uint8Array(ev.data, 4, metaLen)));
      const offset = 4 + metaLen;
      const buf = ev.data;
      latest = { meta, buf, offset, payload: () => new Uint8Array(buf, offset) };
      state.received++;
      if (!scheduled) { scheduled = true; requestAnimationFrame(draw); }
    };
    ws.onclose = () => {
      if (!state.error) showError("disconnected from shmkit view; retrying…");
      setTimeout(() => { state.error = null; connect(); }, 1000);
    };
  };
  connect();
  setInterval(updateAge, 250);

  $("pause").onclick = () => {
    state.paused = !state.paused;
    $("pause").textContent = state.paused ? "Resume" : "Pause";
    if (!state.paused) ask();
  };
  $("save").onclick = () => {
    if (!shown) return;
    const m = shown.meta;
    const base = `${target.replace(/[^A-Za-z0-9._-]/g, "_")}-${m.seq}`;
    const download = (blob, ext) => {
      const a = el("a");
      a.href = URL.createObjectURL(blob);
      a.download = `${base}.${ext}`;
      a.click();
      setTimeout(() => URL.revokeObjectURL(a.href), 10000);
    };
    if (m.show === "rgba") {
      $("canvas").toBlob((b) => download(b, "png"), "image/png");
    } else if (m.show === "image") {
      download(new Blob([shown.payload()], { type: m.mime }), m.mime.split("/")[1]);
    } else if (m.show === "text") {
      download(new Blob([shown.payload()], { type: m.mime }), m.mime.includes("json") ? "json" : "txt");
    } else {
      download(new Blob([shown.payload()], { type: "application/octet-stream" }), "bin");
    }
  };
}

function hexdump(b, total) {
  const lines = [];
  const n = Math.min(b.length, 4096);
  for (let off = 0; off < n; off += 16) {
    const row = b.subarray(off, Math.min(off + 16, n));
    let hex = "";
    let ascii = "";
    for (let i = 0; i < 16; i++) {
      if (i === 8) hex += " ";
      hex += i < row.length ? row[i].toString(16).padStart(2, "0") + " " : "   ";
      if (i < row.length) ascii += row[i] >= 32 && row[i] < 127 ? String.fromCharCode(row[i]) : ".";
    }
    lines.push(`${off.toString(16).padStart(8, "0")}  ${hex} |${ascii}|`);
  }
  if (total > n) lines.push(`… ${total - n} more bytes (Save keeps ${b.length})`);
  return lines.join("\n");
}

if (document.body.dataset.page === "index") indexPage(); else viewPage();
