// The dashboard of a TunnelLite server or client: polls the JSON API of the endpoint that served it and draws it.
//
// Rules this file keeps, because the page is served with "Content-Security-Policy: default-src 'self'" and shows names
// that peers chose (tunnel and client names, event messages):
// - every text from the API goes in with textContent or an attribute set through the DOM, never innerHTML;
// - no eval, no inline handlers, no style attributes: looks come from classes in dashboard.css;
// - same-origin requests only, with the browser's credentials (basic auth it already holds) reused.
(function () {
  'use strict';

  const POLL_MS = 2000;
  const WINDOW_MS = 15 * 60 * 1000; // what the charts show at most (the server keeps 15 minutes per tunnel)
  const MIN_WINDOW_MS = 60 * 1000; // a young chart still spans a minute, so its first points do not fill the width
  const MAX_EVENTS = 100;
  const HISTORY_AT_ONCE = 2; // history requests in flight, so that hundreds of tunnels do not fire hundreds at once

  const $ = (id) => document.getElementById(id);

  // ---------------------------------------------------------------- formatting

  const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

  /** 1536 -> "1.5 KiB". */
  function bytes(n) {
    if (typeof n !== 'number' || !isFinite(n)) return '—';
    let i = 0;
    let v = Math.abs(n);
    while (v >= 1024 && i < UNITS.length - 1) { v /= 1024; i++; }
    const digits = i === 0 ? 0 : v < 10 ? 2 : v < 100 ? 1 : 0;
    return (n < 0 ? '-' : '') + v.toFixed(digits) + ' ' + UNITS[i];
  }

  function rate(n) { return bytes(n) + '/s'; }

  function count(n) { return typeof n === 'number' ? n.toLocaleString('en-US') : '—'; }

  /** A .NET TimeSpan as System.Text.Json writes it ("[-][d.]hh:mm:ss[.fffffff]") -> seconds. */
  function timeSpanSeconds(text) {
    const m = /^(-)?(?:(\d+)\.)?(\d+):(\d+):(\d+)(?:\.(\d+))?$/.exec(text || '');
    if (!m) return NaN;
    const s = (+(m[2] || 0)) * 86400 + (+m[3]) * 3600 + (+m[4]) * 60 + (+m[5]) + (m[6] ? +('0.' + m[6]) : 0);
    return m[1] ? -s : s;
  }

  /** 93784 -> "1d 2h", 3725 -> "1h 02m", 75 -> "1m 15s". */
  function duration(seconds) {
    if (!isFinite(seconds) || seconds < 0) return '—';
    const s = Math.floor(seconds);
    const d = Math.floor(s / 86400);
    const h = Math.floor((s % 86400) / 3600);
    const m = Math.floor((s % 3600) / 60);
    const pad = (x) => (x < 10 ? '0' : '') + x;
    if (d > 0) return d + 'd ' + h + 'h';
    if (h > 0) return h + 'h ' + pad(m) + 'm';
    if (m > 0) return m + 'm ' + pad(s % 60) + 's';
    return s + 's';
  }

  function clock(date) {
    return isNaN(date) ? '—' : date.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
  }

  function stamp(date) { return isNaN(date) ? '' : date.toLocaleString(); }

  // ---------------------------------------------------------------- DOM helpers (text only)

  /** A new element with a class and a text; the text is never parsed as HTML. */
  function el(tag, className, text) {
    const e = document.createElement(tag);
    if (className) e.className = className;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  /** Sets a cell's or card's text and, for numbers, the raw value in data-value (what the tests and tooltips read). */
  function show(node, text, value, title) {
    if (!node) return;
    if (node.textContent !== text) node.textContent = text;
    if (value !== undefined) node.dataset.value = String(value);
    if (title !== undefined) node.title = title;
  }

  // ---------------------------------------------------------------- API

  class HttpError extends Error {
    constructor(status, path) {
      super(status === 401 ? 'the endpoint wants a user and password (reload the page to log in)'
        : status === 429 ? 'too many failed logins; wait a minute'
        : 'HTTP ' + status + ' from ' + path);
      this.status = status;
    }
  }

  async function getJson(path) {
    const response = await fetch(path, { credentials: 'same-origin', cache: 'no-store', headers: { Accept: 'application/json' } });
    if (!response.ok) throw new HttpError(response.status, path);
    return response.json();
  }

  // ---------------------------------------------------------------- series and charts

  /** Rates over time for one chart: the server's history (10 s apart) and then the live samples of every poll. Times
      are the server's (history points' Time, snapshots' Timestamp), so a browser whose clock is off draws right. */
  class Series {
    constructor() { this.points = []; }

    get last() { return this.points[this.points.length - 1]; }

    /** Puts the history before the live points it does not overlap. */
    addHistory(history) {
      const live = this.points;
      const firstLive = live.length ? live[0].t : Infinity;
      const past = [];
      for (const p of history.Points || []) {
        const t = Date.parse(p.Time);
        if (t < firstLive) past.push({ t: t, rin: p.BytesInPerSec || 0, rout: p.BytesOutPerSec || 0 });
      }
      this.points = past.concat(live);
    }

    add(time, rin, rout) {
      const t = Date.parse(time);
      if (isNaN(t) || (this.last && t <= this.last.t)) return;
      this.points.push({ t: t, rin: rin || 0, rout: rout || 0 });
      const from = t - WINDOW_MS;
      let drop = 0;
      while (drop < this.points.length && this.points[drop].t < from) drop++;
      if (drop) this.points.splice(0, drop);
    }
  }

  let palette = null;

  function colours() {
    if (!palette) {
      const css = getComputedStyle(document.documentElement);
      const get = (name) => css.getPropertyValue(name).trim();
      palette = { in: get('--in'), out: get('--out'), grid: get('--grid'), muted: get('--muted'), font: '11px ' + get('--font') };
    }
    return palette;
  }

  /** The smallest "round" rate (1, 2 or 5 times a power of ten, in B/s, KiB/s...) at or above v. */
  function niceCeiling(v) {
    if (!(v > 0)) return 1024;
    let unit = 1;
    while (v >= unit * 1024) unit *= 1024;
    const m = v / unit;
    const steps = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 1024];
    return unit * steps.find((s) => s >= m);
  }

  /** Draws the series as two lines (in and out) with light fills; with axes, rate labels and a time scale too. Sets
      data-points to the number of points drawn, for the tests. */
  function draw(canvas, series, axes) {
    const width = canvas.clientWidth;
    const height = canvas.clientHeight;
    if (!width || !height) return;
    const dpr = window.devicePixelRatio || 1;
    if (canvas.width !== Math.round(width * dpr) || canvas.height !== Math.round(height * dpr)) {
      canvas.width = Math.round(width * dpr);
      canvas.height = Math.round(height * dpr);
    }
    const ctx = canvas.getContext('2d');
    const c = colours();
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, width, height);

    const points = series ? series.points : [];
    const left = axes ? 70 : 1;
    const right = width - (axes ? 8 : 1);
    const top = axes ? 8 : 2;
    const bottom = height - (axes ? 20 : 2);
    const end = points.length ? points[points.length - 1].t : Date.now();
    const start = Math.max(end - WINDOW_MS, Math.min(points.length ? points[0].t : end, end - MIN_WINDOW_MS));
    let peak = 0;
    for (const p of points) peak = Math.max(peak, p.rin, p.rout);
    const max = niceCeiling(peak);
    const x = (t) => left + (right - left) * (t - start) / (end - start || 1);
    const y = (v) => bottom - (bottom - top) * v / max;

    if (axes) {
      ctx.font = c.font;
      ctx.lineWidth = 1;
      ctx.strokeStyle = c.grid;
      ctx.fillStyle = c.muted;
      ctx.textAlign = 'right';
      ctx.textBaseline = 'middle';
      for (let i = 0; i <= 4; i++) {
        const v = max * i / 4;
        const yy = Math.round(y(v)) + 0.5;
        ctx.beginPath();
        ctx.moveTo(left, yy);
        ctx.lineTo(right, yy);
        ctx.stroke();
        ctx.fillText(rate(v), left - 6, yy);
      }
      ctx.textBaseline = 'alphabetic';
      const span = (end - start) / 60000;
      ctx.textAlign = 'left';
      ctx.fillText('−' + (span >= 1.5 ? Math.round(span) + ' min' : Math.round(span * 60) + ' s'), left, height - 4);
      ctx.textAlign = 'right';
      ctx.fillText('now', right, height - 4);
    }

    const line = (key, colour, lineWidth) => {
      if (!points.length) return;
      ctx.beginPath();
      points.forEach((p, i) => (i ? ctx.lineTo(x(p.t), y(p[key])) : ctx.moveTo(x(p.t), y(p[key]))));
      if (points.length === 1) ctx.lineTo(right, y(points[0][key]));
      ctx.lineWidth = lineWidth;
      ctx.lineJoin = 'round';
      ctx.strokeStyle = colour;
      ctx.stroke();
      // The fill under the line: the same path closed along the bottom, faint.
      ctx.lineTo(points.length === 1 ? right : x(points[points.length - 1].t), bottom);
      ctx.lineTo(x(points[0].t), bottom);
      ctx.closePath();
      ctx.globalAlpha = 0.12;
      ctx.fillStyle = colour;
      ctx.fill();
      ctx.globalAlpha = 1;
    };
    // Out under in, and wider: where they are equal (an echo, an SSH session) both colours still show.
    line('rout', c.out, axes ? 3 : 2.5);
    line('rin', c.in, axes ? 1.5 : 1);
    canvas.dataset.points = String(points.length);
    canvas.dataset.max = String(max);
  }

  // ---------------------------------------------------------------- state

  const state = {
    role: null,
    historyInterval: 10,
    noClients: false,
    total: new Series(),
    tunnels: new Map(), // name -> { row, cells, series, spark, historyAsked }
    selected: null,
    historyQueue: [],
    historyRunning: 0,
    eventsKey: '',
    polls: 0,
  };

  // ---------------------------------------------------------------- history, fetched once per chart

  function queueHistory(name, series) {
    state.historyQueue.push({ name: name, series: series });
    pumpHistory();
  }

  function pumpHistory() {
    while (state.historyRunning < HISTORY_AT_ONCE && state.historyQueue.length) {
      const job = state.historyQueue.shift();
      if (job.name !== null && !state.tunnels.has(job.name)) continue; // gone before its turn
      state.historyRunning++;
      const path = 'api/v1/history?minutes=15' + (job.name === null ? '' : '&tunnel=' + encodeURIComponent(job.name));
      getJson(path)
        .then((history) => { job.series.addHistory(history); redraw(job.name); })
        .catch(() => { /* no history (a new tunnel): the live points draw the chart */ })
        .finally(() => { state.historyRunning--; pumpHistory(); });
    }
  }

  function redraw(name) {
    if (name === null) { draw($('chart-total'), state.total, true); return; }
    const t = state.tunnels.get(name);
    if (!t) return;
    draw(t.spark, t.series, false);
    if (state.selected === name) draw($('chart-tunnel'), t.series, true);
  }

  // ---------------------------------------------------------------- rendering

  function renderServer(info) {
    const s = info.Stats || {};
    state.role = info.Role;
    if (info.Admin && info.Admin.HistoryIntervalSeconds) state.historyInterval = info.Admin.HistoryIntervalSeconds;
    const isServer = info.Role === 'Server';
    show($('role'), isServer ? 'Server' : 'Client');
    show($('name'), s.Name || '');
    show($('version'), info.Version ? 'v' + info.Version : '');
    const st = $('state');
    show(st, s.State || '—');
    st.dataset.state = /^(Running|Connected)$/.test(s.State) ? 'good' : /^(Reconnecting|Connecting|Starting|Draining)$/.test(s.State) ? 'warn' : 'bad';
    if (s.LastError) st.title = 'Last error: ' + s.LastError; else st.removeAttribute('title');
    document.title = 'TunnelLite ' + (isServer ? 'server' : 'client') + (s.Name ? ' · ' + s.Name : '');

    const up = timeSpanSeconds(s.Uptime);
    show($('uptime'), duration(up), up);
    show($('listen'), isServer ? 'control port ' + s.Port : s.ClientName ? 'as ' + s.ClientName : '');
    $('clients-card').hidden = !isServer || state.noClients;
    show($('clients-count'), count(s.Clients), s.Clients);
    show($('tunnels-count'), count(s.Tunnels), s.Tunnels);
    // The data plane beside the mode, as Get-TunnelStats lists them: "forwarding: Auto · event loops ×2".
    const plane = s.DataPlane === 'EventLoops' ? 'event loops ×' + s.EventLoops : s.DataPlane === 'Async' ? 'async' : '';
    show($('forwarding-mode'), [s.ForwardingMode ? 'forwarding: ' + s.ForwardingMode : '', plane].filter(Boolean).join(' · '));
    show($('active-connections'), count(s.ActiveConnections), s.ActiveConnections);
    show($('total-connections'), count(s.TotalConnections), s.TotalConnections);
    show($('total-bytes-in'), bytes(s.BytesIn), s.BytesIn, count(s.BytesIn) + ' bytes');
    show($('total-bytes-out'), bytes(s.BytesOut), s.BytesOut, count(s.BytesOut) + ' bytes');
    show($('total-rate-in'), rate(s.BytesInPerSec), s.BytesInPerSec);
    show($('total-rate-out'), rate(s.BytesOutPerSec), s.BytesOutPerSec);
    show($('tunnel-peer-header'), isServer ? 'Client' : 'Local service');

    state.total.add(s.Timestamp, s.BytesInPerSec, s.BytesOutPerSec);
    draw($('chart-total'), state.total, true);
  }

  const TUNNEL_CELLS = ['name', 'peer', 'port', 'state', 'in', 'out', 'rin', 'rout', 'active', 'failed', 'reset', 'mode', 'chart'];
  const NUMERIC = new Set(['port', 'in', 'out', 'rin', 'rout', 'active', 'failed', 'reset']);

  function newTunnelRow(name) {
    const row = el('tr');
    row.dataset.tunnel = name; // an attribute set through the DOM: inert whatever the name holds
    row.tabIndex = 0;
    const cells = {};
    for (const key of TUNNEL_CELLS) {
      const td = el('td', key === 'name' ? 'name' : NUMERIC.has(key) ? 'num' : '');
      td.dataset.col = key;
      cells[key] = td;
      row.appendChild(td);
    }
    const spark = el('canvas', 'spark');
    spark.dataset.points = '0';
    cells.chart.appendChild(spark);
    show(cells.name, name, undefined, name);
    row.addEventListener('click', () => select(name));
    row.addEventListener('keydown', (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); select(name); } });
    return { row: row, cells: cells, series: new Series(), spark: spark, historyAsked: false };
  }

  function renderTunnels(list) {
    const body = $('tunnel-rows');
    const seen = new Set();
    let previous = null;
    for (const s of list) {
      seen.add(s.Name);
      let t = state.tunnels.get(s.Name);
      if (!t) {
        t = newTunnelRow(s.Name);
        state.tunnels.set(s.Name, t);
      }
      // Keep the API's order without rebuilding rows (a rebuilt row would lose focus and hover).
      const wanted = previous ? previous.nextSibling : body.firstChild;
      if (wanted !== t.row) body.insertBefore(t.row, wanted);
      previous = t.row;

      const c = t.cells;
      const peer = state.role === 'Server' ? s.ClientName : s.LocalEndpoint;
      show(c.peer, peer || '—', undefined, peer || '');
      show(c.port, s.Port ? String(s.Port) : '—', s.Port);
      show(c.state, s.State || '—', undefined, s.LastError ? 'Last error: ' + s.LastError : '');
      show(c.in, bytes(s.BytesIn), s.BytesIn, count(s.BytesIn) + ' bytes');
      show(c.out, bytes(s.BytesOut), s.BytesOut, count(s.BytesOut) + ' bytes');
      show(c.rin, rate(s.BytesInPerSec), s.BytesInPerSec);
      show(c.rout, rate(s.BytesOutPerSec), s.BytesOutPerSec);
      show(c.active, count(s.ActiveConnections), s.ActiveConnections);
      show(c.failed, count(s.FailedConnections), s.FailedConnections);
      c.failed.classList.toggle('bad', s.FailedConnections > 0);
      show(c.reset, count(s.ResetConnections), s.ResetConnections);
      show(c.mode, s.ForwardingMode || '—');

      t.series.add(s.Timestamp, s.BytesInPerSec, s.BytesOutPerSec);
      // The server records a tunnel's history every 10 s: one younger than that has none yet (asking would only
      // log a 404 in the console), and for it the live points are the whole story anyway.
      if (!t.historyAsked && timeSpanSeconds(s.Uptime) > state.historyInterval + 1) {
        t.historyAsked = true;
        queueHistory(s.Name, t.series);
      }
      draw(t.spark, t.series, false);
    }
    for (const [name, t] of state.tunnels) {
      if (!seen.has(name)) {
        t.row.remove();
        state.tunnels.delete(name);
      }
    }
    $('tunnels-empty').hidden = list.length > 0;
    if (state.selected === null || !state.tunnels.has(state.selected)) select(list.length ? list[0].Name : null);
    else redraw(state.selected);
  }

  function select(name) {
    state.selected = name;
    for (const [n, t] of state.tunnels) {
      t.row.classList.toggle('selected', n === name);
      t.row.setAttribute('aria-selected', String(n === name));
    }
    show($('chart-tunnel-name'), name === null ? 'no tunnel' : name);
    const t = name === null ? null : state.tunnels.get(name);
    draw($('chart-tunnel'), t ? t.series : null, true);
  }

  function renderClients(list) {
    const section = $('clients-section');
    if (list === null) { section.hidden = true; return; }
    section.hidden = false;
    const body = $('client-rows');
    const rows = [];
    for (const c of list) {
      const row = el('tr');
      row.dataset.client = c.Id;
      const since = new Date(c.ConnectedSince);
      const age = c.HeartbeatAgeSeconds;
      row.append(
        el('td', 'name', c.Name || '—'),
        el('td', '', c.Account || 'shared token'),
        el('td', 'mono', c.RemoteAddress),
        el('td', '', c.Version || '—'),
        el('td', '', isNaN(since) ? '—' : duration((Date.now() - since) / 1000) + ' ago'),
        el('td', 'num' + (age > 10 ? ' stale' : ''), typeof age === 'number' ? age.toFixed(1) + ' s ago' : '—'),
        el('td', '', (c.Tunnels || []).join(', ') || '—'));
      row.children[0].title = c.Name || '';
      row.children[4].title = stamp(since);
      rows.push(row);
    }
    body.replaceChildren(...rows);
    $('clients-empty').hidden = list.length > 0;
  }

  function renderEvents(list) {
    const last = list[list.length - 1];
    const key = list.length + '|' + (last ? last.Time + last.Message : '');
    if (key === state.eventsKey) return; // unchanged: keep the rows (and any text being selected)
    state.eventsKey = key;
    const rows = [];
    for (let i = list.length - 1; i >= 0 && rows.length < MAX_EVENTS; i--) {
      const e = list[i];
      const time = new Date(e.Time);
      const row = el('tr');
      const when = el('td', 'mono', clock(time));
      when.title = stamp(time);
      row.append(when, el('td', 'level ' + (/^\w+$/.test(e.Level) ? e.Level : ''), e.Level), el('td', 'message', e.Message));
      rows.push(row);
    }
    $('event-rows').replaceChildren(...rows);
    $('events-empty').hidden = list.length > 0;
  }

  function setStatus(error) {
    const status = $('status');
    if (error) {
      status.dataset.state = 'error';
      show(status, 'Not updating: ' + error.message);
    } else {
      status.dataset.state = 'live';
      show(status, 'Live · ' + clock(new Date()));
    }
  }

  // ---------------------------------------------------------------- polling

  async function poll() {
    try {
      const server = await getJson('api/v1/server');
      const wantClients = server.Role === 'Server' && !state.noClients;
      const [tunnels, clients, events] = await Promise.all([
        getJson('api/v1/tunnels'),
        wantClients ? getJson('api/v1/clients').catch((e) => {
          // A client's endpoint has no clients to list: hide the section rather than fail.
          if (e.status === 404) { state.noClients = true; return null; }
          throw e;
        }) : Promise.resolve(null),
        getJson('api/v1/events'),
      ]);
      renderServer(server);
      renderTunnels(tunnels);
      renderClients(clients);
      renderEvents(events);
      if (state.polls === 0) queueHistory(null, state.total);
      state.polls++;
      document.body.dataset.polls = String(state.polls);
      setStatus(null);
    } catch (e) {
      setStatus(e);
    } finally {
      setTimeout(poll, POLL_MS);
    }
  }

  // A resized window or a new colour scheme: draw again at the new size and in the new colours.
  let resizeTimer = 0;
  window.addEventListener('resize', () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => { redraw(null); for (const name of state.tunnels.keys()) redraw(name); }, 100);
  });
  if (window.matchMedia) {
    window.matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => {
      palette = null;
      redraw(null);
      for (const name of state.tunnels.keys()) redraw(name);
    });
  }

  poll();
})();
