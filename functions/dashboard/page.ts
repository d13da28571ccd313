/**
 * The dashboard page served at GET /api/dashboard: one self-contained HTML document, its CSS and script
 * inline (no CDN: consortium networks may have no internet). Kept as strings in a .ts module because tsc
 * does not copy .html files into dist/. The script is plain ES2020 built by concatenation (no template
 * literals) so nothing in it is read as TypeScript interpolation, and it is allowed by the
 * Content-Security-Policy through its SHA-256 hash rather than 'unsafe-inline'.
 *
 * Everything the script shows comes from the public read API and is written with textContent, never
 * as HTML, so a hostile legal name or reason cannot inject markup.
 */
import { createHash } from 'node:crypto';

export const DASHBOARD_STYLE = `
:root { color-scheme: light; --ok: #1a7f37; --bad: #c62828; --warn: #9a6700; --muted: #57606a; --line: #d0d7de; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0; color: #1f2328; background: #f6f8fa; }
header { background: #0b3d5c; color: #fff; padding: 12px 20px; display: flex; gap: 16px; align-items: baseline; flex-wrap: wrap; }
header h1 { font-size: 20px; margin: 0; }
header p { margin: 0; opacity: .9; }
main { padding: 16px 20px; display: grid; gap: 16px; }
section { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 12px 16px; }
h2 { font-size: 16px; margin: 0 0 8px; }
h3 { font-size: 14px; margin: 12px 0 4px; }
table { border-collapse: collapse; width: 100%; }
caption { text-align: left; color: var(--muted); padding-bottom: 4px; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: #f6f8fa; font-weight: 600; }
code { font-size: 12px; }
.muted { color: var(--muted); }
.pill { display: inline-block; padding: 0 8px; border-radius: 10px; font-size: 12px; font-weight: 600; background: #eaeef2; }
.pill[data-value="ACTIVE"], .pill[data-value="active"], .pill[data-value="succeeded"], .pill[data-value="approved"] { background: #dafbe1; color: var(--ok); }
.pill[data-value="voting"], .pill[data-value="provisioning"], .pill[data-value="running"], .pill[data-value="PENDING"] { background: #fff8c5; color: var(--warn); }
.pill[data-value="failed"], .pill[data-value="rejected"], .pill[data-value="REMOVED"], .pill[data-value="SUSPENDED"], .pill[data-value="expired"] { background: #ffebe9; color: var(--bad); }
.tally { display: flex; align-items: center; gap: 8px; min-width: 220px; }
.bar { position: relative; flex: 1; height: 14px; background: #eaeef2; border-radius: 7px; overflow: hidden; min-width: 120px; }
.bar .approve { position: absolute; left: 0; top: 0; bottom: 0; background: var(--ok); }
.bar .reject { position: absolute; right: 0; top: 0; bottom: 0; background: var(--bad); }
.bar .required { position: absolute; top: -2px; bottom: -2px; width: 2px; background: #1f2328; }
.timeline { position: relative; height: 12px; background: #eaeef2; border-radius: 3px; min-width: 160px; }
.timeline .span { position: absolute; top: 0; bottom: 0; background: #0969da; border-radius: 3px; min-width: 2px; }
.timeline .span[data-state="failed"] { background: var(--bad); }
.timeline .span[data-state="running"] { background: var(--warn); }
#audit-status { font-weight: 600; }
#audit-status[data-state="verified"] { color: var(--ok); }
#audit-status[data-state="broken"], #audit-status[data-state="error"] { color: var(--bad); }
#connection[data-state="error"] { color: #ffd8d3; }
.visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
`;

export const DASHBOARD_SCRIPT = String.raw`
'use strict';
(function () {
  var params = new URLSearchParams(location.search);
  var refresh = Number(params.get('refresh'));
  if (!(refresh >= 100 && refresh <= 600000)) refresh = 2000;
  // The API sits next to this page: /api/dashboard -> /api/.
  var base = location.pathname.replace(/\/dashboard\/?$/, '/');
  var GENESIS = '0'.repeat(64);
  var KINDS = document.body.getAttribute('data-audit-kinds').split(',');
  var TERMINAL = { active: 1, rejected: 1, expired: 1, withdrawn: 1 };
  var MAX_REQUESTS = 20;
  var LATEST_AUDIT = 25;
  // The app's clock (virtual under the local host): the server's time when the page was served.
  var clockOffset = Number(document.body.getAttribute('data-server-now')) - Date.now();
  if (!isFinite(clockOffset)) clockOffset = 0;
  function serverNow() { return Date.now() + clockOffset; }

  var state = {
    audit: [], head: null, verification: { state: 'pending', text: 'Verifying…' },
    requests: new Map(), requestOrder: [], members: [], memberDetail: new Map(), cost: null, costById: new Map(),
    lastAuditLength: -1, polls: 0, busy: false
  };

  function $(id) { return document.getElementById(id); }
  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    if (attrs) for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function setText(e, text) { text = text === undefined || text === null ? '—' : String(text); if (e.textContent !== text) e.textContent = text; }
  function announce(text) {
    var live = $('announcer');
    var p = el('p', null, text);
    live.appendChild(p);
    while (live.childNodes.length > 5) live.removeChild(live.firstChild);
  }
  function api(path) {
    return fetch(base + path, { headers: { accept: 'application/json' }, cache: 'no-store' }).then(function (r) {
      if (r.status === 404) return null;
      if (!r.ok) throw new Error(path.split('?')[0] + ' answered ' + r.status);
      return r.json();
    });
  }
  // Optional routes (cost, scaling) may not exist in this deployment: any failure shows as "—".
  function optional(path) { return api(path).catch(function () { return null; }); }

  function fmtTime(iso) {
    if (!iso) return '—';
    var d = new Date(iso);
    return isNaN(d.getTime()) ? String(iso) : d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
  }
  function fmtDuration(ms) {
    if (!(ms >= 0)) return '—';
    var s = Math.round(ms / 1000);
    if (s < 60) return s + ' s';
    var m = Math.floor(s / 60); s = s % 60;
    if (m < 60) return m + ' min ' + s + ' s';
    var h = Math.floor(m / 60); m = m % 60;
    if (h < 48) return h + ' h ' + m + ' min';
    return Math.floor(h / 24) + ' d ' + (h % 24) + ' h';
  }
  function fmtMoney(n, currency) {
    if (typeof n !== 'number') return '—';
    try { return new Intl.NumberFormat(undefined, { style: 'currency', currency: currency || 'USD', maximumFractionDigits: 0 }).format(n); }
    catch (e) { return n.toFixed(0) + ' ' + (currency || ''); }
  }
  function pill(value) { return el('span', { 'class': 'pill', 'data-value': value }, value); }
  function setPill(cell, value) {
    var p = cell.firstChild;
    if (!p || p.getAttribute('data-value') !== value) { cell.textContent = ''; cell.appendChild(pill(value)); }
  }

  /** Keeps a tbody's rows in the order of items, one per key, updating cells in place. */
  function syncRows(tbody, items, keyOf, columns, update, emptyText) {
    var existing = new Map();
    Array.prototype.forEach.call(tbody.querySelectorAll('tr[data-key]'), function (tr) { existing.set(tr.getAttribute('data-key'), tr); });
    var empty = tbody.querySelector('tr.empty');
    if (items.length === 0) {
      existing.forEach(function (tr) { tr.remove(); });
      if (!empty) { var tr0 = el('tr', { 'class': 'empty' }); var td = el('td', { colspan: String(columns) }, emptyText); td.className = 'muted'; tr0.appendChild(td); tbody.appendChild(tr0); }
      return;
    }
    if (empty) empty.remove();
    var before = null;
    for (var i = items.length - 1; i >= 0; i--) {
      var key = keyOf(items[i]);
      var row = existing.get(key);
      var fresh = !row;
      if (fresh) {
        row = el('tr', { 'data-key': key });
        for (var c = 0; c < columns; c++) row.appendChild(el(c === 0 ? 'th' : 'td', c === 0 ? { scope: 'row' } : null));
      }
      existing.delete(key);
      update(row, items[i], fresh);
      if (row.nextSibling !== before || row.parentNode !== tbody) tbody.insertBefore(row, before);
      before = row;
    }
    existing.forEach(function (tr) { tr.remove(); });
  }

  // ---- audit: the same canonical JSON and SHA-256 link check as core/audit.ts verifyChain ----
  function canonicalJson(value) {
    if (value !== null && typeof value === 'object' && typeof value.toJSON === 'function') value = value.toJSON();
    if (value === undefined || typeof value === 'function' || typeof value === 'symbol') return undefined;
    if (value === null || typeof value !== 'object') return JSON.stringify(value);
    if (Array.isArray(value)) return '[' + value.map(function (v) { var t = canonicalJson(v); return t === undefined ? 'null' : t; }).join(',') + ']';
    var members = [];
    Object.keys(value).sort().forEach(function (k) { var t = canonicalJson(value[k]); if (t !== undefined) members.push(JSON.stringify(k) + ':' + t); });
    return '{' + members.join(',') + '}';
  }
  function sha256Hex(text) {
    return crypto.subtle.digest('SHA-256', new TextEncoder().encode(text)).then(function (buf) {
      return Array.prototype.map.call(new Uint8Array(buf), function (b) { return (b < 16 ? '0' : '') + b.toString(16); }).join('');
    });
  }
  function entryHash(entry) {
    var body = {};
    for (var k in entry) if (k !== 'hash') body[k] = entry[k];
    return sha256Hex(canonicalJson(body));
  }
  /** Checks entries appended after what was verified already; resolves to a reason, or null when they link. */
  function verifyMore(previous, entries) {
    var i = 0;
    function next() {
      if (i >= entries.length) return Promise.resolve(null);
      var e = entries[i++];
      var index = previous ? previous.seq + 1 : 0;
      if (!e || typeof e !== 'object') return Promise.resolve({ seq: index, reason: 'entry is not an object' });
      if (e.seq !== index) return Promise.resolve({ seq: index, reason: 'found seq ' + e.seq + ' where seq ' + index + ' was expected' });
      if (previous ? e.prev !== previous.hash : e.prev !== GENESIS) return Promise.resolve({ seq: index, reason: 'prev does not match the entry before it' });
      if (KINDS.indexOf(e.kind) < 0) return Promise.resolve({ seq: index, reason: 'unknown kind ' + e.kind });
      if (!e.data || typeof e.data !== 'object' || Array.isArray(e.data)) return Promise.resolve({ seq: index, reason: 'data is not an object' });
      return entryHash(e).then(function (h) {
        if (h !== e.hash) return { seq: index, reason: 'hash mismatch: entry was altered' };
        previous = e;
        return next();
      });
    }
    return next();
  }
  function toContinuation(seq) {
    // GET /api/audit continues from a seq given as base64url text (functions/audit-list.ts).
    return btoa(String(seq)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }
  function pollAudit() {
    if (state.verification.state === 'broken') return Promise.resolve(false);
    var added = [];
    function page(continuation) {
      return api('audit?limit=1000' + (continuation ? '&continuation=' + encodeURIComponent(continuation) : '')).then(function (body) {
        var items = (body && body.items) || [];
        added = added.concat(items);
        return body && body.continuation ? page(body.continuation) : added;
      });
    }
    var from = state.head ? toContinuation(state.head.seq + 1) : null;
    return page(from).then(function (entries) {
      if (entries.length === 0 && state.head) return false;
      if (!(window.crypto && crypto.subtle)) {
        state.audit = state.audit.concat(entries);
        setVerification('error', 'Not verified: this page is not in a secure context (HTTPS), so WebCrypto is unavailable.');
        return entries.length > 0;
      }
      return verifyMore(state.head, entries).then(function (broken) {
        state.audit = state.audit.concat(entries);
        if (broken) {
          setVerification('broken', 'BROKEN at entry ' + broken.seq + ': ' + broken.reason + '.');
          announce('The audit log does not verify at entry ' + broken.seq + '.');
        } else {
          if (entries.length) state.head = entries[entries.length - 1];
          setVerification('verified', 'Verified: hash chain of ' + state.audit.length + ' entries' +
            (state.head ? ', head ' + state.head.hash.slice(0, 16) + '…' : '.'));
        }
        return entries.length > 0;
      });
    });
  }
  function setVerification(kind, text) {
    var changed = state.verification.state !== kind;
    state.verification = { state: kind, text: text };
    var s = $('audit-status');
    s.setAttribute('data-state', kind);
    setText(s, text);
    if (changed && kind !== 'verified') announce('Audit log: ' + text);
  }

  // ---- requests: found through the audit log, so no listing key is needed ----
  function requestIdsFromAudit() {
    var ids = [];
    for (var i = state.audit.length - 1; i >= 0 && ids.length < MAX_REQUESTS; i--) {
      var e = state.audit[i];
      if (e.kind === 'request.received' && e.data && typeof e.data.requestId === 'string' && ids.indexOf(e.data.requestId) < 0) ids.push(e.data.requestId);
    }
    return ids;
  }
  function pollRequests() {
    var ids = requestIdsFromAudit();
    state.requestOrder = ids;
    return Promise.all(ids.map(function (id) {
      var known = state.requests.get(id);
      if (known && TERMINAL[known.phase]) return null;
      return api('membership-requests/' + encodeURIComponent(id)).then(function (r) {
        if (!r) return;
        if (known && known.phase !== r.phase) announce('Request from ' + r.applicant.id + ' moved from ' + known.phase + ' to ' + r.phase + '.');
        else if (!known && state.polls > 0) announce('New membership request from ' + r.applicant.id + ', ' + r.phase + '.');
        state.requests.set(id, r);
      });
    }));
  }

  // ---- members, their scaling and cost (cost and scaling may not be deployed: then "—") ----
  function pollMembers() {
    return api('members?limit=1000').then(function (body) {
      var items = (body && body.items) || [];
      var before = new Map(state.members.map(function (m) { return [m.id, m.status]; }));
      if (state.polls > 0) items.forEach(function (m) {
        if (!before.has(m.id)) announce('New member ' + m.id + ', ' + m.status + '.');
        else if (before.get(m.id) !== m.status) announce('Member ' + m.id + ' is now ' + m.status + '.');
      });
      state.members = items;
      return Promise.all([
        optional('cost').then(function (c) {
          state.cost = c;
          state.costById = new Map(((c && c.perMember) || []).map(function (m) { return [m.memberId, m]; }));
          if (c && c.period && typeof c.period.nowMs === 'number') clockOffset = c.period.nowMs - Date.now();
        })
      ].concat(items.map(function (m) {
        return optional('members/' + encodeURIComponent(m.id)).then(function (d) { if (d) state.memberDetail.set(m.id, d); });
      })));
    });
  }

  // ---- rendering ----
  function scalingText(s) {
    var parts = [];
    if (s.failure) parts.push('last change to ' + s.failure.to + ' failed (' + s.failure.code + ')');
    if (s.override) parts.push('override ' + s.override.profile + ' until ' + fmtTime(s.override.expiresAt));
    if (s.changedAt) parts.push('changed ' + fmtTime(s.changedAt) + (s.source ? ' by ' + s.source : '') + (s.reason ? ': ' + s.reason : ''));
    if (s.nextChange) parts.push('next ' + s.nextChange.profile + ' at ' + fmtTime(s.nextChange.at));
    return parts.length ? parts.join('; ') : 'unchanged';
  }
  function renderMembers() {
    var currency = state.cost && state.cost.currency;
    syncRows($('members-body'), state.members, function (m) { return m.id; }, 6, function (row, m) {
      var c = row.cells, d = state.memberDetail.get(m.id), s = d && d.scaling, cost = state.costById.get(m.id);
      row.setAttribute('data-status', m.status);
      setText(c[0], m.id);
      setText(c[1], m.legalName);
      setPill(c[2], m.status);
      setText(c[3], s && s.current ? s.current + (s.desired && s.desired !== s.current ? ' → ' + s.desired : '') : m.profile);
      setText(c[4], s ? scalingText(s) : '—');
      setText(c[5], cost ? fmtMoney(cost.toDate.cost, currency) + ' so far, ' + fmtMoney(cost.projected.cost, currency) + ' projected' : '—');
    }, 'No members.');
    var total = $('cost-total');
    if (state.cost && state.cost.toDate) {
      setText(total, 'This month: ' + fmtMoney(state.cost.toDate.cost, currency) + ' so far, ' +
        fmtMoney(state.cost.projected.cost, currency) + ' projected; saving ' +
        fmtMoney(state.cost.savings.projected, currency) + ' (' + Math.round(state.cost.savings.projectedPercent) + '%) against running Large.');
    } else setText(total, 'Cost: —');
  }

  function tallyCell(cell, t) {
    var bar = cell.querySelector('.bar');
    if (!bar) {
      cell.textContent = '';
      var wrap = el('div', { 'class': 'tally' });
      bar = el('div', { 'class': 'bar', role: 'img' });
      bar.appendChild(el('div', { 'class': 'approve' }));
      bar.appendChild(el('div', { 'class': 'reject' }));
      bar.appendChild(el('div', { 'class': 'required' }));
      wrap.appendChild(bar);
      wrap.appendChild(el('span', { 'class': 'tally-text' }));
      cell.appendChild(wrap);
    }
    var eligible = Math.max(1, t.eligible || 0);
    // Widths through the CSSOM: allowed by the CSP, unlike style attributes in markup.
    bar.querySelector('.approve').style.width = (100 * (t.approve || 0) / eligible) + '%';
    bar.querySelector('.reject').style.width = (100 * (t.reject || 0) / eligible) + '%';
    bar.querySelector('.required').style.left = 'calc(' + Math.min(100, 100 * (t.required || 0) / eligible) + '% - 1px)';
    var text = t.approve + ' approve, ' + t.reject + ' reject; ' + t.required + ' of ' + t.eligible + ' eligible required';
    bar.setAttribute('aria-label', text);
    bar.setAttribute('data-approve', String(t.approve));
    bar.setAttribute('data-reject', String(t.reject));
    setText(cell.querySelector('.tally-text'), t.approve + '✓ ' + t.reject + '✗ / ' + t.required + ' of ' + t.eligible);
  }
  function deadlineText(r) {
    if (r.phase !== 'voting') return r.decidedAt ? 'decided ' + fmtTime(r.decidedAt) : (r.outcome || '—');
    var left = Date.parse(r.deadline) - serverNow();
    return left > 0 ? fmtDuration(left) + ' left (' + fmtTime(r.deadline) + ')' : 'closing (' + fmtTime(r.deadline) + ')';
  }
  function requestList() {
    return state.requestOrder.map(function (id) { return state.requests.get(id); }).filter(Boolean);
  }
  function renderRequests() {
    syncRows($('requests-body'), requestList(), function (r) { return r.id; }, 5, function (row, r) {
      var c = row.cells;
      row.setAttribute('data-phase', r.phase);
      row.setAttribute('data-request-id', r.id);
      setText(c[0], r.applicant.id + ' — ' + r.applicant.legalName);
      setPill(c[1], r.phase);
      if (r.tally) tallyCell(c[2], r.tally); else setText(c[2], '—');
      setText(c[3], deadlineText(r));
      setText(c[4], r.id);
    }, 'No membership requests yet.');
  }

  function renderTimelines() {
    var root = $('timelines');
    var withSteps = requestList().filter(function (r) { return r.steps && r.steps.length; });
    var keep = new Set();
    withSteps.forEach(function (r) {
      keep.add(r.id);
      var box = root.querySelector('[data-request-id="' + CSS.escape(r.id) + '"]');
      if (!box) {
        box = el('div', { 'data-request-id': r.id, 'class': 'timeline-box' });
        var table = el('table');
        var cap = el('caption');
        table.appendChild(cap);
        var head = el('thead'), hr = el('tr');
        ['Step', 'State', 'Started', 'Duration', 'Timeline', 'Error'].forEach(function (h) { hr.appendChild(el('th', { scope: 'col' }, h)); });
        head.appendChild(hr); table.appendChild(head); table.appendChild(el('tbody'));
        box.appendChild(table);
        root.appendChild(box);
      }
      var starts = r.steps.map(function (s) { return Date.parse(s.started); }).filter(isFinite);
      var t0 = starts.length ? Math.min.apply(null, starts) : 0;
      var ends = r.steps.map(function (s) { return s.ended ? Date.parse(s.ended) : (s.started ? serverNow() : NaN); }).filter(isFinite);
      var t1 = ends.length ? Math.max.apply(null, ends) : t0;
      var span = Math.max(1, t1 - t0);
      var done = r.steps.filter(function (s) { return s.state === 'succeeded' || s.state === 'skipped'; }).length;
      setText(box.querySelector('caption'), r.applicant.id + ': ' + r.phase + ', ' + done + ' of ' + r.steps.length + ' steps done' +
        (starts.length ? ', ' + fmtDuration(t1 - t0) + ' so far' : ''));
      box.setAttribute('data-phase', r.phase);
      syncRows(box.querySelector('tbody'), r.steps, function (s) { return s.name; }, 6, function (row, s) {
        var c = row.cells;
        row.setAttribute('data-state', s.state);
        setText(c[0], s.name);
        setPill(c[1], s.state);
        setText(c[2], fmtTime(s.started));
        var start = Date.parse(s.started), end = s.ended ? Date.parse(s.ended) : serverNow();
        setText(c[3], isFinite(start) ? fmtDuration(end - start) + (s.ended ? '' : ' (running)') : '—');
        var line = c[4].querySelector('.timeline');
        if (!line) { line = el('div', { 'class': 'timeline', 'aria-hidden': 'true' }); line.appendChild(el('div', { 'class': 'span' })); c[4].appendChild(line); }
        var bar = line.firstChild;
        bar.setAttribute('data-state', s.state);
        bar.style.left = isFinite(start) ? (100 * (start - t0) / span) + '%' : '0';
        bar.style.width = isFinite(start) ? (100 * (end - start) / span) + '%' : '0';
        setText(c[5], s.error ? s.error.code + ': ' + s.error.message : '');
      }, 'No steps yet.');
    });
    Array.prototype.forEach.call(root.querySelectorAll('.timeline-box'), function (b) { if (!keep.has(b.getAttribute('data-request-id'))) b.remove(); });
    $('timelines-empty').hidden = withSteps.length > 0;
  }

  function renderScaling() {
    var changes = state.audit.filter(function (e) { return e.kind === 'member.scaled'; }).slice(-50).reverse();
    syncRows($('scaling-body'), changes, function (e) { return String(e.seq); }, 5, function (row, e) {
      var c = row.cells, d = e.data;
      setText(c[0], fmtTime(e.at));
      setText(c[1], d.memberId);
      setText(c[2], d.from + ' → ' + d.to);
      setText(c[3], d.reason);
      setText(c[4], d.source);
    }, 'No scaling changes yet.');
  }

  function renderAudit() {
    var latest = state.audit.slice(-LATEST_AUDIT).reverse();
    syncRows($('audit-body'), latest, function (e) { return String(e.seq); }, 6, function (row, e) {
      var c = row.cells;
      setText(c[0], e.seq);
      setText(c[1], fmtTime(e.at));
      setText(c[2], e.kind);
      setText(c[3], e.subject);
      setText(c[4], e.actor);
      setText(c[5], e.hash ? e.hash.slice(0, 16) + '…' : '—');
    }, 'The audit log is empty.');
  }

  function render() {
    renderMembers();
    renderRequests();
    renderTimelines();
    renderScaling();
    renderAudit();
  }

  function poll() {
    if (state.busy) return;
    state.busy = true;
    var conn = $('connection');
    pollAudit().then(function (changed) {
      // Members change only with an audit entry; cost moves with time, so it is refreshed now and then.
      var work = [pollRequests()];
      if (changed || state.polls % 15 === 0) work.push(pollMembers());
      return Promise.all(work);
    }).then(function () {
      render();
      conn.setAttribute('data-state', 'ok');
      setText(conn, 'Live, updated ' + new Date().toLocaleTimeString() + ' (every ' + (refresh / 1000) + ' s)');
    }).catch(function (e) {
      conn.setAttribute('data-state', 'error');
      setText(conn, 'Cannot reach the API: ' + (e && e.message ? e.message : e) + '. Retrying.');
    }).then(function () {
      state.polls++;
      state.busy = false;
      document.body.setAttribute('data-polls', String(state.polls));
    });
  }

  poll();
  setInterval(poll, refresh);
})();
`;

const sha256 = (text: string) => `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;

/**
 * Self only: the inline script and style are allowed by hash, the page may fetch only its own origin,
 * and it may not be framed (no clickjacking of a page that shows who is voting).
 */
export const DASHBOARD_CSP = [
  "default-src 'none'",
  `script-src ${sha256(DASHBOARD_SCRIPT)}`,
  `style-src ${sha256(DASHBOARD_STYLE)}`,
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const escapeAttr = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** The whole page; `serverNowMs` lets countdowns use the app's clock, `auditKinds` the known entry kinds. */
export function dashboardPage(serverNowMs: number, auditKinds: readonly string[]): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>TrustNet dashboard</title>
<style>${DASHBOARD_STYLE}</style>
</head>
<body data-server-now="${String(serverNowMs)}" data-audit-kinds="${escapeAttr(auditKinds.join(','))}">
<header>
  <h1>TrustNet</h1>
  <p id="connection" role="status" data-state="pending">Loading…</p>
</header>
<div id="announcer" class="visually-hidden" aria-live="polite" aria-atomic="false"></div>
<main>
  <section aria-labelledby="members-title">
    <h2 id="members-title">Members</h2>
    <p id="cost-total" class="muted">Cost: —</p>
    <table id="members">
      <caption>Members of the consortium with their status, profile, scaling and cost this month</caption>
      <thead><tr><th scope="col">Member</th><th scope="col">Legal name</th><th scope="col">Status</th><th scope="col">Profile</th><th scope="col">Scaling</th><th scope="col">Cost this month</th></tr></thead>
      <tbody id="members-body"></tbody>
    </table>
  </section>
  <section aria-labelledby="requests-title">
    <h2 id="requests-title">Membership requests</h2>
    <table id="requests">
      <caption>The latest requests to join, newest first: the tally bar shows approvals (green) and rejections (red); the mark is the number of approvals required</caption>
      <thead><tr><th scope="col">Applicant</th><th scope="col">Phase</th><th scope="col">Tally</th><th scope="col">Deadline</th><th scope="col">Request id</th></tr></thead>
      <tbody id="requests-body"></tbody>
    </table>
  </section>
  <section aria-labelledby="timelines-title">
    <h2 id="timelines-title">Provisioning timeline</h2>
    <p id="timelines-empty" class="muted">No onboarding has started yet.</p>
    <div id="timelines"></div>
  </section>
  <section aria-labelledby="scaling-title">
    <h2 id="scaling-title">Scaling history</h2>
    <table id="scaling">
      <caption>Scale set changes made by the platform, newest first</caption>
      <thead><tr><th scope="col">When</th><th scope="col">Member</th><th scope="col">Profile</th><th scope="col">Reason</th><th scope="col">Source</th></tr></thead>
      <tbody id="scaling-body"></tbody>
    </table>
  </section>
  <section aria-labelledby="audit-title">
    <h2 id="audit-title">Audit log</h2>
    <p>Verification in this browser: <span id="audit-status" role="status" data-state="pending">Verifying…</span></p>
    <p class="muted">This page checks the hash chain (sequence, links and each entry's SHA-256) with WebCrypto. It does not check the signed requests and votes inside the entries: for the full check, run <code>trustnet audit verify</code>.</p>
    <table id="audit">
      <caption>The latest 25 entries, newest first</caption>
      <thead><tr><th scope="col">Seq</th><th scope="col">When</th><th scope="col">Kind</th><th scope="col">Subject</th><th scope="col">Actor</th><th scope="col">Hash</th></tr></thead>
      <tbody id="audit-body"></tbody>
    </table>
  </section>
</main>
<script>${DASHBOARD_SCRIPT}</script>
</body>
</html>
`;
}
