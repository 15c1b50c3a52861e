// The sidecar dashboard. Plain browser JavaScript, no framework, no build step.
// Snapshot from the read API (/api/v1/*) on sign-in and after every operation
// ends; everything in between arrives on the live channel (/api/v1/events,
// Server-Sent Events read with fetch so the bearer token travels in a header).
// The token lives in sessionStorage only and never in a URL. Data from the API
// is only ever put into the page as text (textContent), never as HTML.
(function () {
  'use strict';

  const TOKEN_KEY = 'jsm.sidecar.token';
  const MAX_SAMPLES = 90;
  const TERMINAL = ['succeeded', 'failed', 'rolled_back', 'aborted'];

  const state = {
    token: sessionStorage.getItem(TOKEN_KEY) || '',
    who: null,
    teams: new Map(), // name -> team record from /api/v1/teams
    ops: new Map(), // operationId -> {id, type, team, status, phase, message, percent, startedAt}
    samples: new Map(), // team -> [{errorRate, responseTimeMs, availability}]
    locks: [],
    breakers: [],
    audit: [],
    live: null, // AbortController of the live stream
    retryTimer: null,
    lastSeq: null, // seq of the last live event seen: sent as Last-Event-ID on reconnect
    eventCount: 0,
    weightsSeenAt: new Map(), // team -> eventCount when a live weights event last arrived
    opSeenAt: new Map(), // operationId -> eventCount of its last live event
    backoffMs: 1000,
    refreshTimer: null,
    stopTeam: null,
    control: new Map(), // operationId of a switch -> {paused, since, by, reason, gate}: who holds it, if anyone
    controlAsk: null, // the command the confirmation dialog is asking about
  };

  const $ = (id) => document.getElementById(id);

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') node.className = v;
      else if (k === 'text') node.textContent = String(v);
      // CSSOM, not a style attribute: the page's CSP forbids inline style attributes.
      else if (k === 'style') Object.assign(node.style, v);
      else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, String(v));
    }
    for (const c of children) if (c !== null && c !== undefined) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return node;
  }

  function notice(text, kind) {
    const n = $('notice');
    n.textContent = text;
    n.className = 'notice' + (kind ? ' ' + kind : '');
  }

  function setLive(stateName, label) {
    const b = $('live');
    b.dataset.state = stateName;
    b.textContent = label;
    b.className = 'badge ' + (stateName === 'live' ? 'badge-live' : stateName === 'refused' ? 'badge-bad' : 'badge-off');
  }

  const fmtTime = (v) => {
    if (!v) return '';
    const d = new Date(v);
    return isNaN(d.getTime()) ? String(v) : d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
  };

  // The read API answers either a bare array or {<key>: [...]}.
  const listOf = (json, key) => (Array.isArray(json) ? json : (json && (json[key] || json.items)) || []);

  async function api(path, init) {
    const headers = Object.assign({ Accept: 'application/json' }, (init && init.headers) || {});
    if (state.token) headers.Authorization = 'Bearer ' + state.token;
    const res = await fetch(path, Object.assign({}, init, { headers, cache: 'no-store', credentials: 'omit' }));
    let body = null;
    try {
      body = await res.json();
    } catch (_) {
      body = null;
    }
    return { ok: res.ok, status: res.status, body };
  }

  // ---------- snapshot ----------
  async function loadSnapshot() {
    if (!state.token) return;
    // Live events that arrive while these requests are out are newer than their answers.
    const mark = state.eventCount;
    const [teams, ops, locks, breakers] = await Promise.all([
      api('/api/v1/teams'),
      api('/api/v1/operations?status=running'),
      api('/api/v1/locks'),
      api('/api/v1/breakers'),
    ]);
    if (teams.status === 401) {
      refused('the sidecar refused this token');
      return;
    }
    if (teams.ok) {
      const old = state.teams;
      state.teams = new Map();
      for (const t of listOf(teams.body, 'teams')) {
        const name = teamName(t);
        if ((state.weightsSeenAt.get(name) || 0) > mark && old.get(name)) t.weights = old.get(name).weights;
        state.teams.set(name, t);
      }
    }
    if (ops.ok) {
      const fresh = (id) => (state.opSeenAt.get(id) || 0) > mark; // a live event is newer than this answer
      const running = new Set();
      for (const op of listOf(ops.body, 'operations')) {
        running.add(op.id);
        if (fresh(op.id)) continue;
        const prev = state.ops.get(op.id) || {};
        state.ops.set(op.id, Object.assign({}, prev, normaliseOp(op)));
        if (op.type === 'traffic.switch') state.control.set(op.id, holdFromJournal(op) || { paused: false });
      }
      // Ended while we were not listening.
      for (const [id, op] of state.ops) if (op.status === 'running' && !running.has(id) && !fresh(id)) state.ops.delete(id);
    }
    if (locks.ok) state.locks = listOf(locks.body, 'locks');
    if (breakers.ok) state.breakers = listOf(breakers.body, 'breakers');
    fillAuditTeams();
    await loadAudit();
    render();
    // A generation counter on <body>: lets a test (or a curious operator) see a snapshot landed.
    document.body.dataset.snapshot = String(Number(document.body.dataset.snapshot || 0) + 1);
  }

  async function loadAudit() {
    if (!state.token) return;
    const q = new URLSearchParams();
    const team = $('audit-team').value;
    const type = $('audit-type').value.trim();
    q.set('limit', $('audit-limit').value);
    if (team) q.set('team', team);
    if (type) q.set('type', type);
    const r = await api('/api/v1/audit?' + q.toString());
    if (r.ok) state.audit = Array.isArray(r.body) ? r.body : listOf(r.body, 'entries').length ? listOf(r.body, 'entries') : listOf(r.body, 'audit');
    renderAudit();
  }

  // Several operations can end together: refresh once for all of them.
  function scheduleRefresh() {
    if (state.refreshTimer) return;
    state.refreshTimer = setTimeout(() => {
      state.refreshTimer = null;
      loadSnapshot().catch((e) => notice('refresh failed: ' + e.message, 'bad'));
    }, 250);
  }

  const teamName = (t) => t.team || t.name || t.team_name;

  function normaliseOp(op) {
    return {
      id: op.id || op.operationId,
      type: op.type,
      team: op.team === undefined ? null : op.team,
      status: op.status || 'running',
      phase: op.phase || '',
      message: op.message || '',
      percent: typeof op.percent === 'number' ? op.percent : undefined,
      startedAt: op.startedAt || op.at,
      target: (op.params && op.params.target) || op.target,
    };
  }

  // The phases in which a switch holds its weights: a person's pause, or an approval gate.
  const HELD = ['paused', 'awaiting_approval'];

  // A switch the snapshot shows held: who holds it, from the last pause its journal has (the
  // `control` step a traffic.pause or an approval gate writes: verb, by, reason, at, gate).
  function holdFromJournal(op) {
    if (HELD.indexOf(op.phase) < 0) return null;
    const steps = Array.isArray(op.steps) ? op.steps : [];
    for (let i = steps.length - 1; i >= 0; i--) {
      const it = steps[i] && steps[i].intent;
      if (steps[i].name === 'control' && it && it.verb === 'pause') return { paused: true, since: it.at, by: it.by, reason: it.reason, gate: typeof it.gate === 'number' ? it.gate : null };
    }
    return { paused: true, since: null, by: null, reason: null, gate: null };
  }

  // The live state of a switch from its progress events: `paused` or `awaiting_approval` (with
  // by / since, and the step of an approval gate) holds it; any other phase means it moves again.
  function followControl(op, e) {
    if (op.type !== 'traffic.switch' || e.kind !== 'progress' || typeof e.phase !== 'string') return;
    if (HELD.indexOf(e.phase) >= 0) {
      state.control.set(op.id, { paused: true, since: e.since || e.at, by: e.by || null, reason: typeof e.reason === 'string' ? e.reason : null, gate: typeof e.gate === 'number' ? e.gate : null });
    } else {
      state.control.set(op.id, { paused: false });
    }
  }

  function teamWeights(t) {
    const w = t.weights || (t.desired && t.desired.weights) || {};
    return { blue: Number(w.blue) || 0, green: Number(w.green) || 0 };
  }

  // ---------- live channel ----------
  function stopLive() {
    if (state.live) state.live.abort();
    state.live = null;
    clearTimeout(state.retryTimer);
    state.retryTimer = null;
  }

  async function connectLive() {
    stopLive();
    if (!state.token) return;
    const ctl = new AbortController();
    state.live = ctl;
    setLive('connecting', 'connecting…');
    let res;
    try {
      const headers = { Authorization: 'Bearer ' + state.token, Accept: 'text/event-stream' };
      // Resume where we were: the sidecar replays the events we missed (or says it cannot).
      if (state.lastSeq !== null) headers['Last-Event-ID'] = String(state.lastSeq);
      res = await fetch('/api/v1/events', {
        headers,
        cache: 'no-store',
        credentials: 'omit',
        signal: ctl.signal,
      });
    } catch (e) {
      if (ctl.signal.aborted) return;
      return retryLive();
    }
    if (res.status === 401) return refused('the sidecar refused this token');
    if (!res.ok || !res.body) return retryLive();
    setLive('live', 'live');
    state.backoffMs = 1000;
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buf = '';
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += decoder.decode(value, { stream: true });
        let cut;
        while ((cut = buf.indexOf('\n\n')) >= 0) {
          const frame = buf.slice(0, cut);
          buf = buf.slice(cut + 2);
          onFrame(frame);
        }
      }
    } catch (_) {
      // aborted or the connection dropped: fall through to the retry
    }
    if (!ctl.signal.aborted) retryLive();
  }

  function retryLive() {
    setLive('reconnecting', 'reconnecting…');
    const wait = state.backoffMs;
    state.backoffMs = Math.min(state.backoffMs * 2, 15000);
    clearTimeout(state.retryTimer);
    state.retryTimer = setTimeout(() => {
      state.retryTimer = null;
      if (state.token) connectLive();
    }, wait);
  }

  function refused(message) {
    stopLive();
    setLive('refused', 'token refused');
    notice(message + ': enter a valid token', 'bad');
  }

  function onFrame(frame) {
    let event = 'message';
    let data = '';
    for (const line of frame.split('\n')) {
      if (line.startsWith(':')) continue;
      if (line.startsWith('id: ')) state.lastSeq = Number(line.slice(4));
      else if (line.startsWith('event: ')) event = line.slice(7);
      else if (line.startsWith('data: ')) data += line.slice(6);
    }
    if (!data) return;
    let payload;
    try {
      payload = JSON.parse(data);
    } catch (_) {
      return;
    }
    if (event === 'hello') {
      state.who = payload;
      // First connection, or the sidecar no longer had what we missed: read everything again.
      if (!payload.resumed) loadSnapshot().catch((e) => notice('could not read the sidecar: ' + e.message, 'bad'));
      $('who').textContent = 'signed in as ' + payload.tokenId + (payload.ops ? ' (ops)' : ' (' + payload.teams.join(', ') + ')');
    } else if (event === 'progress' || event === 'operation') {
      onOperationEvent(payload);
    }
  }

  // traffic.switch reports `step` (percent of traffic on the target) rather than a percent done.
  function percentOf(e, prev) {
    if (typeof e.percent === 'number') return e.percent;
    if (typeof e.step === 'number') return e.step;
    if (e.kind === 'operation' && e.status === 'succeeded') return 100;
    return prev.percent;
  }

  function onOperationEvent(e) {
    state.eventCount += 1;
    const known = state.ops.has(e.operationId);
    // A new operation of a team starts a new chart: samples of the last switch would mislead.
    if (!known && e.kind === 'operation' && e.status === 'running' && e.team) state.samples.delete(e.team);
    const prev = state.ops.get(e.operationId) || { id: e.operationId, startedAt: e.at, status: 'running' };
    state.opSeenAt.set(e.operationId, state.eventCount);
    const op = Object.assign({}, prev, {
      type: e.type || prev.type,
      team: e.team === undefined ? prev.team : e.team,
      status: e.status || prev.status,
      phase: e.phase || prev.phase,
      message: e.message || prev.message,
      percent: percentOf(e, prev),
      target: e.target || prev.target,
    });
    state.ops.set(op.id, op);
    followControl(op, e);
    const team = op.team && state.teams.get(op.team);
    if (team && e.weights) {
      team.weights = { blue: Number(e.weights.blue) || 0, green: Number(e.weights.green) || 0 };
      state.weightsSeenAt.set(op.team, state.eventCount);
    }
    // A switch reports each validation window's figures; other bodies may send single samples.
    const sample = e.sample && typeof e.sample === 'object' ? e.sample : e.figures && typeof e.figures === 'object' ? e.figures : null;
    if (op.team && sample) {
      const list = state.samples.get(op.team) || [];
      list.push(sample);
      while (list.length > MAX_SAMPLES) list.shift();
      state.samples.set(op.team, list);
    }
    if (TERMINAL.includes(op.status)) {
      notice((op.team ? op.team + ': ' : '') + (op.type || 'operation') + ' ' + op.status + (op.message ? ' — ' + op.message : ''), op.status === 'succeeded' ? 'ok' : 'bad');
      // Only running operations are shown; opSeenAt keeps an older snapshot from bringing it back.
      state.ops.delete(op.id);
      state.control.delete(op.id);
      scheduleRefresh();
    }
    render();
  }

  // ---------- rendering ----------
  function render() {
    renderTeams();
    renderOps();
    renderLocks();
    renderBreakers();
  }

  function inFlightFor(team) {
    for (const op of state.ops.values()) if (op.team === team && op.status === 'running') return op;
    return null;
  }

  function renderTeams() {
    const box = $('teams');
    box.replaceChildren();
    if (state.teams.size === 0) {
      box.append(el('p', { class: 'empty', text: state.token ? 'No teams visible to this token.' : 'Enter a token to see the teams.' }));
      return;
    }
    for (const [name, t] of [...state.teams.entries()].sort()) {
      const w = teamWeights(t);
      const total = w.blue + w.green || 1;
      const active = t.active || t.active_environment || '';
      const op = inFlightFor(name);
      const card = el(
        'article',
        { class: 'team', 'data-team': name },
        el(
          'h3',
          {},
          el('span', { text: name }),
          el('span', { class: 'env env-' + active, 'data-role': 'active', text: active ? 'active: ' + active : 'active: ?' }),
        ),
        el(
          'div',
          { class: 'weights', 'data-role': 'weights', 'data-blue': w.blue, 'data-green': w.green, title: 'HAProxy weights: the share of new sessions; signed-in people stay on the controller holding their session until the final cut' },
          el('span', { class: 'w-blue', style: { width: (100 * w.blue) / total + '%' }, text: w.blue ? 'blue ' + w.blue : '' }),
          el('span', { class: 'w-green', style: { width: (100 * w.green) / total + '%' }, text: w.green ? 'green ' + w.green : '' }),
        ),
        el('div', { class: 'muted' }, 'new sessions: blue ', el('b', { 'data-role': 'w-blue', text: w.blue }), ' · green ', el('b', { 'data-role': 'w-green', text: w.green }),
          t.previous ? ' · previous ' + t.previous : '', t.lastKnownGood ? ' · last known good ' + t.lastKnownGood : ''),
        op ? renderOpLine(op) : el('p', { class: 'op empty', 'data-role': 'op', text: 'no operation in flight' }),
        renderChart(name),
        el('button', { type: 'button', class: 'danger', 'data-role': 'stop', onclick: () => openStop(name) }, 'Emergency stop'),
      );
      box.append(card);
    }
  }

  function renderOpLine(op) {
    return el(
      'div',
      { class: 'op', 'data-role': 'op', 'data-operation': op.id },
      el('span', { text: op.type || 'operation' }),
      ' — ',
      el('span', { class: 'phase', 'data-role': 'phase', text: op.phase || 'starting' }),
      op.message ? el('div', { 'data-role': 'message', text: op.message }) : null,
      typeof op.percent === 'number' ? el('progress', { max: 100, value: Math.max(0, Math.min(100, op.percent)), 'data-role': 'progress' }) : null,
      op.type === 'traffic.switch' ? renderControlState(op) : null,
      op.type === 'traffic.switch' && state.who && state.who.ops ? renderControlButtons(op) : null,
    );
  }

  // ---------- a person in the loop: pause / resume / promote / abort ----------
  function renderControlState(op) {
    const c = state.control.get(op.id) || { paused: false };
    const pct = switchPercent(op);
    const at = typeof pct === 'number' ? ' at ' + pct + '%' : '';
    if (!c.paused) return el('div', { class: 'control', 'data-role': 'control-state', 'data-paused': 'false', text: 'running' + at });
    const what = c.gate ? 'waiting for approval at ' + c.gate + '%' : 'paused' + at;
    const since = c.since ? ' since ' + fmtTime(c.since) : '';
    const by = c.by ? ' by ' + c.by : '';
    return el('div', { class: 'control paused', 'data-role': 'control-state', 'data-paused': 'true', text: what + since + by + (c.reason ? ' — ' + c.reason : '') + ' (weights held, SLIs still judged)' });
  }

  // Where the switch is: its last step, or (after a snapshot, which has no step) the target's weight.
  function switchPercent(op) {
    if (typeof op.percent === 'number') return op.percent;
    const t = op.team && state.teams.get(op.team);
    if (!t || (op.target !== 'blue' && op.target !== 'green')) return null;
    return teamWeights(t)[op.target];
  }

  const CONTROLS = [
    { role: 'control-pause', label: 'Pause', command: 'pause', when: 'running', what: 'Holds the switch at its current weights. It keeps judging its SLIs (a breach still rolls back) and rolls back if nobody resumes it within the maximum pause.' },
    { role: 'control-resume', label: 'Resume', command: 'resume', when: 'paused', what: 'Lets the switch go on from where it holds: the interrupted window runs to its end, then the next step.' },
    { role: 'control-promote', label: 'Promote', command: 'promote', what: 'Ends the current validation window early as a pass (unless it breached) and goes on to the next step.' },
    { role: 'control-promote-full', label: 'Promote to 100%', command: 'promote', full: true, what: 'Goes straight to 100% on the target, then drains the old side as usual.' },
    { role: 'control-abort', label: 'Abort', command: 'abort', danger: true, what: 'Ends the switch now and rolls back: all traffic on the source side.' },
    { role: 'control-abort-hold', label: 'Abort and hold', command: 'abort', hold: true, danger: true, what: 'Ends the switch now and leaves the weights where they are (the operation ends aborted; an emergency stop still works afterwards).' },
  ];

  function renderControlButtons(op) {
    const c = state.control.get(op.id) || { paused: false };
    const box = el('div', { class: 'controls', 'data-role': 'controls' });
    for (const ctl of CONTROLS) {
      const off = (ctl.when === 'running' && c.paused) || (ctl.when === 'paused' && !c.paused);
      box.append(el('button', { type: 'button', class: ctl.danger ? 'danger' : null, 'data-role': ctl.role, disabled: off, onclick: () => openControl(op, ctl) }, ctl.label));
    }
    return box;
  }

  function openControl(op, ctl) {
    state.controlAsk = { team: op.team, operationId: op.id, command: ctl.command, full: ctl.full, hold: ctl.hold, label: ctl.label };
    $('control-title').textContent = ctl.label + ': ' + op.team;
    $('control-what').textContent = ctl.what + ' Operation ' + op.id + '.';
    $('control-reason').value = '';
    $('control-confirm').textContent = ctl.label;
    $('control-confirm').className = ctl.danger ? 'danger' : '';
    $('control-dialog').showModal();
  }

  async function confirmControl(ev) {
    ev.preventDefault();
    const ask = state.controlAsk;
    if (!ask) return;
    const body = { team: ask.team, command: ask.command, reason: $('control-reason').value.trim(), operationId: ask.operationId };
    if (ask.full) body.full = true;
    if (ask.hold) body.hold = true;
    $('control-dialog').close();
    notice(ask.label + ' for ' + ask.team + ': sending…');
    const r = await api('/api/v1/switch-control', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) }).catch((e) => ({ ok: false, status: 0, body: { error: { code: 'NETWORK', message: e.message } } }));
    if (r.ok) {
      const res = (r.body && r.body.result) || {};
      if (res.state === 'paused' && res.pause) state.control.set(ask.operationId, { paused: true, since: res.pause.since, by: res.pause.by, reason: res.pause.reason, gate: null });
      else if (res.state === 'running') state.control.set(ask.operationId, { paused: false });
      notice(ask.label + ' for ' + ask.team + ': ' + (res.state || 'sent') + (res.taken ? ' (taken)' : ' (acts at its next checkpoint)'), 'ok');
      render();
    } else {
      const err = (r.body && r.body.error) || {};
      const fields = err.fields ? ' (' + err.fields.map((f) => f.field + ': ' + f.message).join('; ') + ')' : '';
      notice(ask.label + ' refused: ' + (err.code || 'HTTP ' + r.status) + ' — ' + (err.message || '') + fields, 'bad');
    }
  }

  // A small SVG chart of the recent SLI samples: error rate and availability
  // on a 0–100 % scale, response time scaled to its own maximum.
  function renderChart(team) {
    const samples = state.samples.get(team) || [];
    if (samples.length === 0) return null;
    const NS = 'http://www.w3.org/2000/svg';
    const W = 300;
    const H = 60;
    const svg = document.createElementNS(NS, 'svg');
    svg.setAttribute('viewBox', '0 0 ' + W + ' ' + H);
    svg.setAttribute('preserveAspectRatio', 'none');
    svg.setAttribute('class', 'chart');
    svg.setAttribute('data-role', 'chart');
    svg.setAttribute('data-samples', String(samples.length));
    const maxRt = Math.max(1, ...samples.map((s) => Number(s.responseTimeMs) || 0));
    const series = [
      { key: 'errorRate', color: '#b91c1c', scale: 100 },
      { key: 'responseTimeMs', color: '#b45309', scale: maxRt },
      { key: 'availability', color: '#16a34a', scale: 100 },
    ];
    const step = samples.length > 1 ? W / (samples.length - 1) : W;
    for (const s of series) {
      const pts = [];
      samples.forEach((sample, i) => {
        const v = Number(sample[s.key]);
        if (Number.isFinite(v)) pts.push((i * step).toFixed(1) + ',' + (H - 2 - (Math.min(v, s.scale) / s.scale) * (H - 4)).toFixed(1));
      });
      if (pts.length === 0) continue;
      const line = document.createElementNS(NS, 'polyline');
      line.setAttribute('points', pts.join(' '));
      line.setAttribute('fill', 'none');
      line.setAttribute('stroke', s.color);
      line.setAttribute('stroke-width', '1.5');
      svg.append(line);
    }
    const last = samples[samples.length - 1];
    const num = (v, d) => (Number.isFinite(Number(v)) ? Number(v).toFixed(d) : '–');
    return el(
      'div',
      {},
      svg,
      el(
        'div',
        { class: 'chart-legend' },
        el('span', { class: 'err', text: 'errors ' + num(last.errorRate, 2) + ' %' }),
        el('span', { class: 'rt', text: 'response ' + num(last.responseTimeMs, 0) + ' ms' }),
        el('span', { class: 'av', text: 'availability ' + num(last.availability, 2) + ' %' }),
        el('span', { text: samples.length + ' samples' }),
      ),
    );
  }

  function renderOps() {
    const body = $('operations').tBodies[0];
    body.replaceChildren();
    const running = [...state.ops.values()].filter((o) => o.status === 'running');
    if (running.length === 0) body.append(el('tr', {}, el('td', { colspan: 6, class: 'empty', text: 'none' })));
    for (const op of running) {
      body.append(
        el(
          'tr',
          { 'data-operation': op.id },
          el('td', { text: op.team || '(all)' }),
          el('td', { text: op.type || '' }),
          el('td', { text: op.phase || '' }),
          el('td', {}, typeof op.percent === 'number' ? el('progress', { max: 100, value: op.percent }) : ''),
          el('td', { text: op.message || '' }),
          el('td', { text: fmtTime(op.startedAt) }),
        ),
      );
    }
  }

  function renderLocks() {
    const body = $('locks').tBodies[0];
    body.replaceChildren();
    if (state.locks.length === 0) body.append(el('tr', {}, el('td', { colspan: 4, class: 'empty', text: 'no locks held' })));
    for (const l of state.locks) {
      const left = Math.round((new Date(l.expiresAt).getTime() - Date.now()) / 1000);
      body.append(
        el(
          'tr',
          {},
          el('td', { text: l.lockName || l.name || '' }),
          el('td', { text: l.holder || '' }),
          el('td', { text: l.token === undefined ? '' : l.token }),
          el('td', { text: fmtTime(l.expiresAt) + (Number.isFinite(left) ? ' (' + (left >= 0 ? 'in ' + left + ' s' : 'expired') + ')' : '') }),
        ),
      );
    }
  }

  function renderBreakers() {
    const body = $('breakers').tBodies[0];
    body.replaceChildren();
    if (state.breakers.length === 0) body.append(el('tr', {}, el('td', { colspan: 4, class: 'empty', text: 'no breakers recorded' })));
    for (const b of state.breakers) {
      body.append(
        el(
          'tr',
          {},
          el('td', { text: b.name }),
          el('td', { class: 'state-' + b.state, text: b.state }),
          el('td', { text: b.failures === undefined ? '' : b.failures }),
          el('td', { text: fmtTime(b.retryAt) }),
        ),
      );
    }
  }

  function fillAuditTeams() {
    const sel = $('audit-team');
    const current = sel.value;
    sel.replaceChildren(el('option', { value: '', text: 'all' }));
    for (const name of [...state.teams.keys()].sort()) sel.append(el('option', { value: name, text: name }));
    sel.value = current;
  }

  function renderAudit() {
    const body = $('audit').tBodies[0];
    body.replaceChildren();
    const wantStatus = $('audit-status').value.trim().toLowerCase();
    const rows = state.audit.filter((a) => !wantStatus || String(a.status || '').toLowerCase().includes(wantStatus));
    if (rows.length === 0) body.append(el('tr', {}, el('td', { colspan: 7, class: 'empty', text: 'no entries' })));
    for (const a of rows) {
      body.append(
        el(
          'tr',
          {},
          el('td', { text: fmtTime(a.startedAt || a.at) }),
          el('td', { text: a.team || '' }),
          el('td', { text: a.operationType || a.type || '' }),
          el('td', { text: (a.sourceEnvironment || '') + (a.targetEnvironment ? ' → ' + a.targetEnvironment : '') }),
          el('td', { text: a.initiatedBy || '' }),
          el('td', { class: 'status-' + a.status, text: a.status || '' }),
          // A person's command (traffic.pause, rollback.emergency, …) keeps its reason in its params.
          el('td', { text: a.rollbackReason || (a.metadata && a.metadata.params && typeof a.metadata.params.reason === 'string' ? a.metadata.params.reason : '') }),
        ),
      );
    }
  }

  // ---------- emergency stop ----------
  function openStop(team) {
    state.stopTeam = team;
    $('stop-team').textContent = team;
    $('stop-reason').value = '';
    $('stop-target').value = '';
    // A session whose token may act on this team (the ops token, or the team's own) fills it in; else type one.
    const mayStop = state.who && (state.who.ops || (state.who.teams || []).indexOf(team) >= 0);
    $('stop-token').value = mayStop ? state.token : '';
    $('stop-dialog').showModal();
  }

  async function confirmStop(ev) {
    ev.preventDefault();
    const team = state.stopTeam;
    const token = $('stop-token').value.trim();
    const body = { team, reason: $('stop-reason').value.trim() };
    if ($('stop-target').value) body.target = $('stop-target').value;
    const headers = { 'Content-Type': 'application/json', Accept: 'application/json' };
    // Sent even without a token: the sidecar is the one that refuses, and says why.
    if (token) headers.Authorization = 'Bearer ' + token;
    $('stop-dialog').close();
    notice('emergency stop for ' + team + ': sending…');
    let res;
    let json = null;
    try {
      res = await fetch('/api/v1/emergency-stop', { method: 'POST', headers, body: JSON.stringify(body), cache: 'no-store', credentials: 'omit' });
      json = await res.json().catch(() => null);
    } catch (e) {
      notice('emergency stop for ' + team + ' failed: ' + e.message + ' — run `sidecarctl emergency-stop` on the host', 'bad');
      return;
    }
    if (res.ok) {
      const r = (json && json.result) || {};
      notice('emergency stop for ' + team + ' done: active ' + (r.active || '?') + (r.weights ? ' (blue ' + r.weights.blue + ', green ' + r.weights.green + ')' : ''), 'ok');
      scheduleRefresh();
    } else {
      const err = (json && json.error) || json || {};
      const code = err.code || 'HTTP ' + res.status;
      const msg = err.message || '';
      const fields = err.fields ? ' (' + err.fields.map((f) => f.field + ': ' + f.message).join('; ') + ')' : '';
      notice('emergency stop refused: ' + code + ' — ' + msg + fields, 'bad');
    }
  }

  // ---------- sign-in ----------
  function useToken(token) {
    state.token = token;
    state.who = null;
    state.lastSeq = null;
    state.ops.clear();
    state.samples.clear();
    state.weightsSeenAt.clear();
    state.opSeenAt.clear();
    state.control.clear();
    $('who').textContent = '';
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
    if (!token) {
      stopLive();
      state.teams.clear();
      state.locks = [];
      state.breakers = [];
      state.audit = [];
      setLive('offline', 'offline');
      render();
      renderAudit();
      return;
    }
    notice('');
    connectLive();
  }

  document.addEventListener('DOMContentLoaded', () => {
    $('token-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const t = $('token').value.trim();
      $('token').value = '';
      useToken(t);
    });
    $('token-forget').addEventListener('click', () => useToken(''));
    $('audit-filter').addEventListener('submit', (ev) => {
      ev.preventDefault();
      loadAudit().catch((e) => notice('audit: ' + e.message, 'bad'));
    });
    $('stop-form').addEventListener('submit', confirmStop);
    $('stop-cancel').addEventListener('click', () => $('stop-dialog').close());
    $('control-form').addEventListener('submit', (ev) => confirmControl(ev).catch((e) => notice('switch control: ' + e.message, 'bad')));
    $('control-cancel').addEventListener('click', () => $('control-dialog').close());
    render();
    renderAudit();
    // Lock expiry countdowns tick locally; nothing is fetched for them.
    setInterval(renderLocks, 1000);
    if (state.token) connectLive();
  });
})();
