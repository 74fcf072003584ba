// The ivs-server dashboard: plain JavaScript, no dependencies, served by the
// server itself under a strict Content-Security-Policy (no inline script or
// style: everything below builds DOM nodes and sets attributes, never HTML).
//
// The API key is read from the field or from the URL fragment (#key=…, which
// browsers never send) and kept in sessionStorage. It travels only in the
// x-api-key header of fetch() calls: the WebSocket is opened with a
// single-use ticket (POST /api/ws-ticket), never with the key in its URL.
'use strict';

(() => {
  const STORAGE = 'ivs-dashboard-key';
  const WINDOW_MS = 15 * 60 * 1000;
  const POLL_MS = 5000;
  const MAX_EVENTS = 50;
  const SVG = 'http://www.w3.org/2000/svg';
  // Events the list shows: the fleet's, not every viewer's.
  const SHOWN = {
    'stage.created': ['▲', 'stage created'],
    'stage.draining': ['◐', 'stage draining'],
    'stage.revived': ['↺', 'stage revived'],
    'stage.removed': ['▼', 'stage removed'],
    'publisher.live': ['●', 'publisher live'],
    'publisher.offline': ['○', 'publisher offline'],
    'fleet.stage_limit_reached': ['!', 'stage limit reached'],
  };

  const body = document.body;
  const capacity = Number(body.dataset.capacity) || 50;
  const threshold = Number(body.dataset.threshold) || capacity;
  const byTestId = (id) => document.querySelector(`[data-testid="${id}"]`);
  const el = {
    status: document.getElementById('status'),
    statusText: byTestId('connection-status'),
    key: byTestId('api-key'),
    form: document.getElementById('key-form'),
    keyError: document.getElementById('key-error'),
    signOut: document.getElementById('sign-out'),
    total: byTestId('total-viewers'),
    stages: byTestId('active-stages'),
    publisher: byTestId('publisher-live'),
    rows: document.getElementById('stage-rows'),
    chart: byTestId('viewers-chart'),
    chartDesc: document.getElementById('chart-desc'),
    events: byTestId('events'),
    noEvents: document.getElementById('no-events'),
  };
  document.getElementById('capacity').textContent = String(capacity);
  document.getElementById('threshold').textContent = String(threshold);
  document.getElementById('max-stages').textContent = body.dataset.maxStages || '–';

  let key = null;
  let socket = null;
  let attempt = 0;
  let reconnectTimer = 0;
  let pollTimer = 0;
  let master = null;
  const draining = new Set();
  const samples = [];

  // ---- connection state, always visible

  const STATES = {
    connecting: '◌',
    live: '●',
    reconnecting: '◌',
    unauthorised: '✕',
  };

  function setStatus(state, detail) {
    el.status.dataset.state = state;
    el.status.querySelector('.symbol').textContent = STATES[state];
    el.statusText.textContent = detail ? `${state} (${detail})` : state;
  }

  // ---- the key

  /** The key in the URL fragment (#key=…), taken out of the address bar. */
  function takeKeyFromFragment() {
    const match = /(?:^#|&)key=([^&]*)/.exec(window.location.hash);
    if (!match) return null;
    // Out of the address bar, the history and any bookmark.
    window.history.replaceState(null, '', window.location.pathname + window.location.search);
    try {
      return decodeURIComponent(match[1]) || null;
    } catch (_) {
      return null;
    }
  }

  function storedKey() {
    try {
      return sessionStorage.getItem(STORAGE);
    } catch (_) {
      return null;
    }
  }

  function signIn(newKey) {
    key = newKey;
    try {
      sessionStorage.setItem(STORAGE, newKey);
    } catch (_) { /* memory only */ }
    el.form.hidden = true;
    el.signOut.hidden = false;
    el.keyError.textContent = '';
    attempt = 0;
    connect();
  }

  function unauthorised(message) {
    stop();
    key = null;
    try {
      sessionStorage.removeItem(STORAGE);
    } catch (_) { /* nothing stored */ }
    setStatus('unauthorised');
    el.form.hidden = false;
    el.signOut.hidden = true;
    el.keyError.textContent = message || '';
    el.key.focus();
  }

  function stop() {
    window.clearTimeout(reconnectTimer);
    window.clearTimeout(pollTimer);
    if (socket) {
      const s = socket;
      socket = null;
      s.close();
    }
  }

  // ---- the WebSocket, reconnecting with backoff

  function retry(afterMs) {
    if (socket || key === null) return;
    window.clearTimeout(pollTimer);
    attempt += 1;
    // 0.5 s doubling to 15 s, with jitter so a fleet of open dashboards
    // does not come back in step after a restart.
    const base = Math.min(15000, 500 * 2 ** Math.min(attempt - 1, 5));
    const wait = Math.max(afterMs || 0, base / 2 + Math.random() * (base / 2));
    setStatus('reconnecting', `next try in ${Math.ceil(wait / 1000)} s`);
    window.clearTimeout(reconnectTimer);
    reconnectTimer = window.setTimeout(connect, wait);
  }

  function retryAfter(res) {
    const seconds = Number(res.headers.get('retry-after'));
    return Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : 0;
  }

  async function connect() {
    if (key === null) return;
    if (attempt === 0) setStatus('connecting');
    let ticket;
    try {
      const res = await fetch('/api/ws-ticket', {
        method: 'POST',
        headers: { 'x-api-key': key },
        cache: 'no-store',
      });
      if (res.status === 401) {
        unauthorised('The server does not accept this key.');
        return;
      }
      if (!res.ok) {
        retry(retryAfter(res));
        return;
      }
      ticket = (await res.json()).data.ticket;
    } catch (_) {
      retry();
      return;
    }
    const scheme = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
    const s = new WebSocket(`${scheme}//${window.location.host}/ws?ticket=${encodeURIComponent(ticket)}`);
    socket = s;
    s.addEventListener('open', () => {
      if (socket !== s) return;
      attempt = 0;
      setStatus('live');
      s.send(JSON.stringify({ type: 'subscribe', channel: 'stats' }));
      s.send(JSON.stringify({ type: 'subscribe', channel: 'events' }));
      master = null;
      poll();
    });
    s.addEventListener('message', (m) => {
      if (socket !== s) return;
      let msg;
      try {
        msg = JSON.parse(m.data);
      } catch (_) {
        return;
      }
      handle(msg);
    });
    s.addEventListener('close', () => {
      if (socket !== s) return;
      socket = null;
      retry();
    });
  }

  function handle(msg) {
    if (msg.type === 'stats_update') {
      showTotals(msg.data.viewerCount, msg.data.activeStages);
      sample(msg.data.viewerCount, Date.parse(msg.data.timestamp));
    } else if (msg.type === 'event') {
      onEvent(msg.data);
    }
  }

  // ---- per-stage rows and the publisher, from /api/stats

  async function api(path) {
    const res = await fetch(path, { headers: { 'x-api-key': key }, cache: 'no-store' });
    if (res.status === 401) {
      unauthorised('The server no longer accepts this key.');
      return null;
    }
    if (!res.ok) return null;
    return (await res.json()).data;
  }

  async function poll() {
    window.clearTimeout(pollTimer);
    if (!socket || key === null) return;
    try {
      if (master === null) {
        const info = await api('/api/stage/master/info');
        if (info) master = info.stage.arn;
      }
      const stats = await api('/api/stats');
      if (stats) {
        showTotals(stats.totalViewers, stats.activeStages);
        showPublisher(stats.isPublisherLive);
        showStages(stats.stages || []);
        sample(stats.totalViewers, Date.parse(stats.timestamp));
      }
    } catch (_) {
      // The server is away: the WebSocket's close starts the reconnection.
    }
    if (socket) pollTimer = window.setTimeout(poll, POLL_MS);
  }

  function showTotals(viewers, stages) {
    el.total.textContent = String(viewers);
    el.stages.textContent = String(stages);
  }

  function showPublisher(live) {
    el.publisher.dataset.live = String(live);
    el.publisher.textContent = live ? '● live' : '○ offline';
  }

  function shortArn(arn) {
    const at = arn.lastIndexOf('/');
    return at >= 0 ? `stage/${arn.slice(at + 1)}` : arn;
  }

  function node(tag, attrs, text) {
    const n = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) n.setAttribute(k, v);
    if (text !== undefined) n.textContent = text;
    return n;
  }

  function svg(tag, attrs) {
    const n = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) n.setAttribute(k, String(v));
    return n;
  }

  function meter(count) {
    const pct = Math.min(100, (count / capacity) * 100);
    const mark = Math.min(100, (threshold / capacity) * 100);
    const m = svg('svg', { viewBox: '0 0 100 10', preserveAspectRatio: 'none', 'aria-hidden': 'true' });
    m.append(
      svg('rect', { class: 'meter-bg', x: 0, y: 0, width: 100, height: 10 }),
      svg('rect', { class: count >= threshold ? 'meter-fill high' : 'meter-fill', x: 0, y: 0, width: pct, height: 10 }),
      svg('line', { class: 'meter-mark', x1: mark, x2: mark, y1: 0, y2: 10, 'vector-effect': 'non-scaling-stroke' }),
    );
    return m;
  }

  function showStages(stages) {
    const rows = stages.map((s) => {
      const tr = node('tr', { 'data-testid': 'stage-row', 'data-stage-arn': s.stageArn });
      const name = node('td', { 'data-label': 'Stage' });
      name.append(node('span', {}, s.stageName || '(no name)'), node('span', { class: 'arn', title: s.stageArn }, shortArn(s.stageArn)));
      const viewers = node('td', { 'data-label': 'Viewers' });
      const wrap = node('div', { class: 'viewers' });
      const label = `${s.viewerCount} / ${capacity}`;
      wrap.append(meter(s.viewerCount), node('span', { class: 'count', 'aria-label': `${s.viewerCount} of ${capacity} viewers` }, label));
      viewers.append(wrap);
      const role = node('td', { 'data-label': 'Role' });
      if (s.stageArn === master) role.append(node('span', { class: 'badge master' }, '★ master'));
      if (s.autoScaled) role.append(node('span', { class: 'badge' }, '⇅ auto-scaled'));
      if (draining.has(s.stageArn) || s.draining === true) role.append(node('span', { class: 'badge draining' }, '◐ draining'));
      if (s.viewerCount >= threshold) role.append(node('span', { class: 'badge full' }, '▲ at threshold'));
      const replication = node('td', { 'data-label': 'Replication' });
      const parts = [];
      if (s.replication !== undefined && s.replication !== null) {
        parts.push(typeof s.replication === 'object' ? (s.replication.state || s.replication.status || JSON.stringify(s.replication)) : String(s.replication));
      }
      if (s.replicationNote) parts.push(s.replicationNote);
      replication.textContent = parts.length ? parts.join(' — ') : '—';
      tr.append(name, viewers, role, replication);
      return tr;
    });
    el.rows.replaceChildren(...rows);
  }

  // ---- viewers over time, kept in the page

  function sample(viewers, at) {
    const t = Number.isFinite(at) ? at : Date.now();
    if (samples.length && samples[samples.length - 1].t >= t) return;
    samples.push({ t, v: viewers });
    while (samples.length && samples[0].t < t - WINDOW_MS) samples.shift();
    drawChart();
  }

  function drawChart() {
    const W = 600;
    const H = 180;
    const left = 40;
    const bottom = 20;
    const now = samples.length ? samples[samples.length - 1].t : Date.now();
    // The time the page has seen, 10 s to 15 min: a page opened a minute ago
    // shows that minute across the chart, not a sliver at its right edge.
    const span = Math.min(WINDOW_MS, Math.max(10000, samples.length ? now - samples[0].t : 0));
    const peak = samples.reduce((m, s) => Math.max(m, s.v), 0);
    const top = Math.max(10, Math.ceil(peak / 10) * 10);
    const x = (t) => left + ((t - (now - span)) / span) * (W - left - 4);
    const y = (v) => H - bottom - (v / top) * (H - bottom - 10);
    const parts = [];
    for (const v of [0, top / 2, top]) {
      parts.push(svg('line', { class: 'axis', x1: left, x2: W, y1: y(v), y2: y(v) }));
      const label = svg('text', { class: 'grid-label', x: left - 6, y: y(v) + 4, 'text-anchor': 'end' });
      label.textContent = String(v);
      parts.push(label);
    }
    const ago = span >= 120000 ? `${Math.round(span / 60000)} min ago` : `${Math.round(span / 1000)} s ago`;
    for (const [text, at, anchor] of [[ago, left, 'start'], ['now', W - 4, 'end']]) {
      const label = svg('text', { class: 'grid-label', x: at, y: H - 4, 'text-anchor': anchor });
      label.textContent = text;
      parts.push(label);
    }
    if (samples.length) {
      const points = samples.map((s) => `${x(s.t).toFixed(1)},${y(s.v).toFixed(1)}`);
      const first = x(samples[0].t).toFixed(1);
      const last = x(samples[samples.length - 1].t).toFixed(1);
      parts.push(svg('polygon', { class: 'area', points: `${first},${y(0)} ${points.join(' ')} ${last},${y(0)}` }));
      parts.push(svg('polyline', { class: 'line', points: points.join(' ') }));
    }
    const desc = svg('desc', { id: 'chart-desc' });
    desc.textContent = samples.length
      ? `Viewers over the last ${ago.replace(' ago', '')}: now ${samples[samples.length - 1].v}, peak ${peak}.`
      : 'No samples yet.';
    el.chart.replaceChildren(desc, ...parts);
  }

  // ---- fleet events

  function onEvent(event) {
    const data = event.data || {};
    if (event.type === 'stage.draining') draining.add(data.stageArn);
    if (event.type === 'stage.revived' || event.type === 'stage.removed') draining.delete(data.stageArn);
    if (event.type === 'publisher.live') showPublisher(true);
    if (event.type === 'publisher.offline') showPublisher(false);
    const shown = SHOWN[event.type];
    if (!shown) return;
    if (event.type.startsWith('stage.')) {
      // The rows change with it: read them now rather than at the next poll.
      window.clearTimeout(pollTimer);
      pollTimer = window.setTimeout(poll, 200);
    }
    const at = new Date(event.timestamp);
    const item = node('li', { 'data-event-type': event.type });
    item.append(
      node('time', { datetime: event.timestamp }, Number.isNaN(at.getTime()) ? '' : at.toLocaleTimeString()),
      node('span', { class: 'kind' }, `${shown[0]} ${shown[1]}`),
    );
    const what = data.stageArn ? ` ${shortArn(data.stageArn)}` : '';
    const why = data.reason ? ` (${String(data.reason).replace(/_/g, ' ')})` : '';
    item.append(document.createTextNode(`${what}${why}`));
    el.events.prepend(item);
    while (el.events.children.length > MAX_EVENTS) el.events.lastElementChild.remove();
    el.noEvents.hidden = true;
  }

  // ---- start

  el.form.addEventListener('submit', (e) => {
    e.preventDefault();
    const value = el.key.value.trim();
    el.key.value = '';
    if (value) signIn(value);
  });
  el.signOut.addEventListener('click', () => unauthorised(''));

  // A link with #key=… followed while the page is open.
  window.addEventListener('hashchange', () => {
    const fromLink = takeKeyFromFragment();
    if (fromLink !== null) {
      stop();
      signIn(fromLink);
    }
  });

  drawChart();
  const initial = takeKeyFromFragment() || storedKey();
  if (initial) {
    signIn(initial);
  } else {
    unauthorised('');
  }
})();
