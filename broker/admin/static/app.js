// The dashboard: reads the admin API with the token given in the page (or in #token=...), never
// stores it beyond the tab (sessionStorage), and shows operator actions only to operators.
'use strict';

const state = { token: '', role: '', last: null };

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v; else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c ?? '')));
  return e;
}

async function api(method, path) {
  const res = await fetch(path, { method, headers: { Authorization: 'Bearer ' + state.token } });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error((body.error && (body.error.code + ': ' + body.error.message)) || res.status);
  return body;
}

function age(seconds) {
  if (!seconds) return '-';
  if (seconds < 120) return seconds.toFixed(1) + ' s';
  if (seconds < 7200) return (seconds / 60).toFixed(1) + ' min';
  return (seconds / 3600).toFixed(1) + ' h';
}

async function refreshQueues() {
  const q = await api('GET', '/api/queues');
  const now = Date.now();
  const prev = state.last;
  const tbody = document.querySelector('#queues tbody');
  tbody.replaceChildren(...q.queues.map(r => {
    const p = prev && prev.byQueue[r.recipient];
    const dt = prev ? (now - prev.at) / 1000 : 0;
    const rin = p && dt > 0 ? ((r.enqueued - p.enqueued) / dt).toFixed(1) : '-';
    const rout = p && dt > 0 ? ((r.accepted - p.accepted) / dt).toFixed(1) : '-';
    const hold = el('button', { 'data-pause': r.recipient }, r.paused ? 'Resume' : 'Pause');
    hold.addEventListener('click', () => act('POST', `/api/queues/${encodeURIComponent(r.recipient)}/${r.paused ? 'resume' : 'pause'}`,
      `${r.paused ? 'resume' : 'pause'} of ${r.recipient}`));
    return el('tr', { 'data-queue': r.recipient, 'data-depth': r.depth, 'data-paused': r.paused },
      el('td', {}, r.recipient, r.paused ? el('span', { class: 'warn' }, ' (paused)') : '', ' ', el('span', { class: 'op' }, hold)),
      el('td', { class: 'num depth' }, r.depth),
      el('td', { class: 'num' + (r.oldest_age_seconds > 3600 ? ' warn' : '') }, age(r.oldest_age_seconds)),
      el('td', { class: 'num' }, r.enqueued), el('td', { class: 'num' }, r.delivered),
      el('td', { class: 'num' }, r.accepted), el('td', { class: 'num' }, r.redelivered),
      el('td', { class: 'num' }, r.expired), el('td', { class: 'num' }, rin), el('td', { class: 'num' }, rout));
  }));
  const byQueue = {};
  for (const r of q.queues) byQueue[r.recipient] = r;
  state.last = { at: now, byQueue };
  const total = document.getElementById('dlq-total');
  total.textContent = q.dead_letters;
  total.className = q.dead_letters > 0 ? 'bad' : 'good';
}

async function refreshDlq() {
  const code = document.getElementById('dlq-code').value.trim();
  const agency = document.getElementById('dlq-agency').value.trim();
  const qs = new URLSearchParams();
  if (code) qs.set('code', code);
  if (agency) qs.set('agency', agency);
  const d = await api('GET', '/api/dlq' + (qs.toString() ? '?' + qs : ''));
  const tbody = document.querySelector('#dlq tbody');
  tbody.replaceChildren(...d.dead_letters.map(r => {
    const replay = el('button', { 'data-replay': r.id }, 'Replay');
    replay.addEventListener('click', () => act('POST', `/api/dlq/${r.id}/replay`, `replay of ${r.id}`));
    const purge = el('button', { 'data-purge': r.id }, 'Purge');
    purge.addEventListener('click', () => {
      if (confirm(`Purge dead letter ${r.id} for good?`)) act('DELETE', `/api/dlq/${r.id}`, `purge of ${r.id}`);
    });
    const msg = el('a', { href: '#' }, r.message_id);
    msg.addEventListener('click', ev => { ev.preventDefault(); trace(r.message_id); });
    return el('tr', { 'data-dead-letter': r.id },
      el('td', { class: 'num' }, r.id), el('td', {}, r.dead_at), el('td', { class: 'bad' }, r.code),
      el('td', {}, r.reason), el('td', {}, r.agency), el('td', {}, r.recipient || '-'),
      el('td', {}, r.record_key), el('td', {}, msg), el('td', { class: 'op' }, replay, ' ', purge));
  }));
}

async function act(method, path, what) {
  const out = document.getElementById('dlq-result');
  try {
    const r = await api(method, path);
    out.textContent = `${what}: ` + (r.outcome ? r.outcome + (r.code ? ` (${r.code} ${r.detail})` : '') +
      (r.queued && r.queued.length ? `; queued for ${r.queued.join(', ')}` : '') : 'done');
  } catch (e) {
    out.textContent = `${what} failed: ${e.message}`;
  }
  await Promise.all([refreshQueues(), refreshDlq()]);
}

async function trace(id) {
  document.getElementById('trace-id').value = id;
  const box = document.getElementById('trace');
  try {
    const t = await api('GET', `/api/messages/${encodeURIComponent(id)}/trace`);
    const rows = t.decisions.map(d => el('tr', {},
      el('td', {}, d.at), el('td', {}, d.recipient || '-'), el('td', { class: d.decision === 'withhold' ? 'warn' : '' }, d.decision),
      el('td', {}, d.reason), el('td', {}, d.agreement), el('td', {}, d.purpose), el('td', {}, d.consent), el('td', {}, d.provider)));
    const states = Object.entries(t.recipients).map(([r, s]) => `${r}: ${s}`).join(' · ');
    const m = t.medication_check;
    const check = m ? `medication check: ${m.outcome}` +
      m.alerts.map(a => ` · ${a.alert} raised ${a.raised}${a.resolved ? ' (resolved)' : ''}`).join('') : '';
    box.replaceChildren(
      el('p', { id: 'trace-summary' }, `${t.agency}/${t.record_type} record ${t.record_key}, received ${t.received_at}, ${t.status}${t.code ? ' ' + t.code : ''}`),
      el('p', {}, states),
      el('p', { id: 'trace-medication' }, check),
      el('table', {}, el('thead', {}, el('tr', {}, ...['At', 'Recipient', 'Decision', 'Reason', 'Agreement', 'Purpose', 'Consent', 'By'].map(h => el('th', {}, h)))),
        el('tbody', {}, ...rows)));
  } catch (e) {
    box.replaceChildren(el('p', { class: 'bad' }, e.message));
  }
}

async function refreshAlerts() {
  const qs = new URLSearchParams();
  const county = document.getElementById('alerts-county').value.trim();
  const outcome = document.getElementById('alerts-outcome').value;
  if (county) qs.set('county', county);
  if (outcome) qs.set('outcome', outcome);
  const a = await api('GET', '/api/alerts' + (qs.toString() ? '?' + qs : ''));
  document.querySelector('#alerts tbody').replaceChildren(...a.alerts.map(r =>
    el('tr', { 'data-alert': r.alert },
      el('td', {}, r.raised), el('td', {}, r.alert), el('td', { class: 'warn' }, r.outcome),
      el('td', {}, r.county || 'unknown'), el('td', {}, r.fill_date))));
  document.getElementById('alerts-note').textContent = a.configured
    ? `${a.alerts.length} open` : 'the medication check is not configured';
}

async function refreshConditions() {
  const c = await api('GET', '/api/conditions');
  document.querySelector('#conditions tbody').replaceChildren(...c.holding.map(h =>
    el('tr', { 'data-condition': h.name, 'data-state': h.state, 'data-group': h.group },
      el('td', {}, h.name + (h.group ? ` (${h.label}=${h.group})` : '')),
      el('td', { class: h.severity === 'page' ? 'bad' : 'warn' }, h.severity),
      el('td', { class: h.state === 'firing' ? 'bad' : 'warn' }, h.state),
      el('td', { class: 'num' }, h.value), el('td', {}, h.since), el('td', {}, h.summary),
      el('td', {}, h.action))));
  const firing = c.holding.filter(h => h.state === 'firing').length;
  const note = document.getElementById('conditions-note');
  note.textContent = c.holding.length ? `${firing} firing, ${c.holding.length - firing} pending, of ${c.conditions.length} conditions`
    : `none of the ${c.conditions.length} conditions holds (${c.samples} samples)`;
  note.className = firing ? 'bad' : 'good';
}

// The last hour, drawn with uPlot (vendored; see static/VENDORED.md) from /api/history's columns.
const charts = {};
const palette = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'];

function chart(id, names, columns) {
  const box = document.getElementById(id);
  const key = names.join('\u0000');
  const data = [columns[0], ...columns.slice(1)];
  if (charts[id] && charts[id].key === key) {
    charts[id].plot.setData(data);
    return;
  }
  if (charts[id]) charts[id].plot.destroy();
  const opts = {
    width: Math.max(320, box.clientWidth || 480), height: 180,
    series: [{}, ...names.map((n, i) => ({ label: n, stroke: palette[i % palette.length], spanGaps: false }))],
    axes: [{}, { size: 60 }],
  };
  charts[id] = { key, plot: new uPlot(opts, data, box) };
}

async function refreshHistory() {
  const h = await api('GET', '/api/history');
  const t = h.t;
  document.getElementById('charts-note').textContent =
    `${t.length} intervals of ${h.interval_seconds} s` + (t.length ? '' : ' (the first sample is not yet taken)');
  document.getElementById('charts').dataset.points = t.length;
  if (typeof uPlot === 'undefined') return;
  chart('chart-rates', ['in /s', 'accepted /s'], [t, h.ingest_per_second, h.delivery_per_second]);
  const queues = Object.keys(h.depth);
  chart('chart-depth', queues, [t, ...queues.map(q => h.depth[q])]);
  const codes = [...Object.keys(h.dead_letters).map(c => ['dead ' + c, h.dead_letters[c]]),
    ...Object.keys(h.withheld).map(c => ['withheld ' + c, h.withheld[c]])];
  chart('chart-codes', codes.map(c => c[0]), [t, ...codes.map(c => c[1])]);
  chart('chart-latency', ['p50', 'p99'], [t, h.latency_p50_seconds, h.latency_p99_seconds]);
  chart('chart-validation', ['sampled by Xerces', 'disagreements'],
    [t, h.validation_sampled, h.validation_disagreements]);
}

async function refreshAgreements() {
  const a = await api('GET', '/api/agreements');
  document.querySelector('#agreements tbody').replaceChildren(...a.agreements.map(r =>
    el('tr', { 'data-agreement': r.id, 'data-status': r.status },
      el('td', {}, `${r.id}@${r.version}`), el('td', {}, r.providers.join(', ')), el('td', {}, r.recipient),
      el('td', {}, r.level), el('td', {}, r.purposes.join(', ')), el('td', {}, r.effective_from),
      el('td', {}, r.effective_to || '-'),
      el('td', { class: r.status === 'in_effect' ? 'good' : 'bad' }, r.status.replaceAll('_', ' ')))));
}

async function refresh() {
  if (!state.token) return;
  try {
    await Promise.all([refreshQueues(), refreshDlq(), refreshAlerts(), refreshConditions(), refreshHistory()]);
    document.getElementById('updated').textContent = 'updated ' + new Date().toLocaleTimeString();
  } catch (e) {
    document.getElementById('updated').textContent = e.message;
  }
}

async function signIn(token) {
  state.token = token;
  sessionStorage.setItem('niem-token', token);
  try {
    const me = await api('GET', '/api/whoami');
    state.role = me.role;
    document.getElementById('who').textContent = `${me.name} (${me.role})`;
    document.body.classList.toggle('operator', me.role === 'operator');
    await Promise.all([refresh(), refreshAgreements()]);
    document.body.dataset.ready = 'true';
  } catch (e) {
    document.getElementById('who').textContent = 'sign-in failed: ' + e.message;
  }
}

document.addEventListener('DOMContentLoaded', () => {
  document.getElementById('signin').addEventListener('submit', ev => {
    ev.preventDefault();
    signIn(document.getElementById('token').value.trim());
  });
  document.getElementById('dlq-filter').addEventListener('submit', ev => { ev.preventDefault(); refreshDlq(); });
  document.getElementById('alerts-filter').addEventListener('submit', ev => { ev.preventDefault(); refreshAlerts(); });
  document.getElementById('trace-form').addEventListener('submit', ev => {
    ev.preventDefault();
    trace(document.getElementById('trace-id').value.trim());
  });
  const hash = new URLSearchParams(location.hash.slice(1));
  const token = hash.get('token') || sessionStorage.getItem('niem-token');
  if (hash.get('token')) history.replaceState(null, '', location.pathname);  // keep it out of history
  if (token) signIn(token);
  setInterval(refresh, 2000);
});
