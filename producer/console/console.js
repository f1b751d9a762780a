// The datarefresh web console: reads the planner's API (/v1/...) with the bearer token typed into
// the page (kept in sessionStorage, or passed once as /#token=...) and draws the running refreshes,
// the kept generations and the recent refreshes. No framework, nothing from another origin; every
// value from the API goes into the page as text, never as markup.
'use strict';

(() => {
  const kTokenKey = 'datarefresh.token';
  const kFastPoll = 1000;   // while a refresh runs or a request waits to be taken
  const kSlowPoll = 5000;   // otherwise
  const kErrorPoll = 2000;  // after the API did not answer
  const kRecent = 15;
  const kTimeout = 10000;

  const state = {
    token: '',
    media: null,            // the /v1/media answer, or 'unavailable' when the API has no such route
    refreshes: [],          // the last GET /v1/refreshes
    details: new Map(),     // refresh id -> GET /v1/refreshes/{id} (finished ones are kept)
    shards: new Map(),      // refresh id -> shards array, or 'unavailable'
    rates: new Map(),       // refresh id -> {indexed, at, rate}
    requested: new Map(),   // ids requested from this page and not yet listed -> {media_type, mode}
    expanded: new Set(),    // recent refreshes whose report is open
    timer: null,
  };

  const $ = (id) => document.getElementById(id);

  // ---------------------------------------------------------------- token

  function loadToken() {
    const m = /(?:^#|&)token=([^&]*)/.exec(location.hash);
    if (m) {
      sessionStorage.setItem(kTokenKey, decodeURIComponent(m[1]));
      // The token leaves the address bar (and the history) at once.
      history.replaceState(null, '', location.pathname + location.search);
    }
    state.token = sessionStorage.getItem(kTokenKey) || '';
    showTokenState();
  }

  function showTokenState() {
    $('token').value = '';
    $('token-state').textContent = state.token ? 'token set for this tab' : 'no token: the API will refuse';
  }

  // ---------------------------------------------------------------- API

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  // One call to the API. Resolves with {status, body} for any HTTP answer; rejects with an
  // ApiError of status 0 when the API did not answer at all.
  async function api(method, path, body) {
    const headers = {Accept: 'application/json'};
    if (state.token) headers.Authorization = 'Bearer ' + state.token;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), kTimeout);
    let res;
    try {
      res = await fetch(path, {method, headers, body: body === undefined ? undefined : JSON.stringify(body),
                               signal: abort.signal, cache: 'no-store'});
    } catch (e) {
      throw new ApiError(0, abort.signal.aborted ? `no answer within ${kTimeout / 1000} s` : String(e.message || e));
    } finally {
      clearTimeout(timer);
    }
    let json = null;
    try {
      json = await res.json();
    } catch (e) {
      json = null;
    }
    return {status: res.status, body: json};
  }

  function errorText(answer) {
    return answer.body && typeof answer.body.error === 'string' ? answer.body.error : `HTTP ${answer.status}`;
  }

  function refusedText() {
    return state.token ? 'the token is wrong (the API answered 401): type the right one above'
                       : 'the API needs its token (it answered 401): type it above';
  }

  // A data call: the body of a 2xx answer; null for 404 when `missingOk`; throws otherwise.
  async function read(path, missingOk) {
    const a = await api('GET', path);
    if (a.status >= 200 && a.status < 300) return a.body;
    if (a.status === 404 && missingOk) return null;
    throw new ApiError(a.status, a.status === 401 ? refusedText() : `${path}: ${errorText(a)}`);
  }

  // ---------------------------------------------------------------- polling

  async function poll() {
    clearTimeout(state.timer);
    let next = kSlowPoll;
    try {
      const list = await read(`/v1/refreshes?limit=${kRecent}`);
      state.refreshes = Array.isArray(list.refreshes) ? list.refreshes : [];
      for (const r of state.refreshes) state.requested.delete(r.refresh_id);

      const media = await read('/v1/media', true);
      state.media = media && Array.isArray(media.media) ? media.media : 'unavailable';

      const running = state.refreshes.filter((r) => r.status === 'running');
      await Promise.all(running.map(async (r) => {
        const [detail, shards] = await Promise.all([
          read(`/v1/refreshes/${r.refresh_id}`),
          read(`/v1/refreshes/${r.refresh_id}/shards`, true),
        ]);
        state.details.set(r.refresh_id, detail);
        state.shards.set(r.refresh_id, shards && Array.isArray(shards.shards) ? shards.shards : 'unavailable');
        noteRate(r.refresh_id, detail);
      }));
      // A finished refresh's details do not change: fetched once, for its duration, phases and report.
      const finished = state.refreshes.filter((r) => r.status !== 'running' &&
          (!state.details.has(r.refresh_id) || state.details.get(r.refresh_id).status === 'running'));
      await Promise.all(finished.map(async (r) => state.details.set(r.refresh_id, await read(`/v1/refreshes/${r.refresh_id}`))));
      const ids = new Set(state.refreshes.map((r) => r.refresh_id));
      for (const id of [...state.details.keys()]) if (!ids.has(id)) state.details.delete(id);

      showBanner('');
      $('updated').textContent = 'updated ' + new Date().toLocaleTimeString();
      render(false);
      if (running.length > 0 || state.requested.size > 0) next = kFastPoll;
    } catch (e) {
      const status = e instanceof ApiError ? e.status : 0;
      if (status === 401) {
        showBanner('Refused: ' + e.message + '.');
      } else if (status === 0) {
        showBanner(`The API does not answer (${e.message}). Retrying every ${kErrorPoll / 1000} s; what is shown below may be out of date.`);
      } else {
        showBanner(`The API answered with an error: ${e.message}. Retrying every ${kErrorPoll / 1000} s.`);
      }
      render(true);
      next = kErrorPoll;
    }
    state.timer = setTimeout(poll, next);
  }

  // documents/s from two successive polls (smoothed), else what the API computed since indexing began.
  function noteRate(id, detail) {
    const indexed = detail && detail.documents ? detail.documents.indexed || 0 : 0;
    const now = performance.now();
    const prev = state.rates.get(id);
    let rate = prev ? prev.rate : null;
    if (prev && now > prev.at && indexed >= prev.indexed) {
      const sample = (indexed - prev.indexed) / ((now - prev.at) / 1000);
      rate = rate === null ? sample : 0.6 * rate + 0.4 * sample;
    }
    state.rates.set(id, {indexed, at: now, rate});
  }

  function showBanner(text) {
    const b = $('banner');
    b.textContent = text;
    b.hidden = !text;
  }

  function showResult(text, kind) {
    const r = $('action-result');
    r.textContent = text;
    r.className = kind;
    r.hidden = !text;
  }

  // ---------------------------------------------------------------- rendering helpers

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children.flat(Infinity)) {
      if (c === null || c === undefined || c === false) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }

  const fmtInt = (n) => (typeof n === 'number' ? n.toLocaleString('en-US') : '—');

  function fmtSeconds(s) {
    if (typeof s !== 'number' || !isFinite(s)) return '—';
    if (s < 60) return `${s < 10 ? s.toFixed(1) : Math.round(s)} s`;
    const m = Math.floor(s / 60);
    if (m < 60) return `${m} min ${Math.round(s % 60)} s`;
    return `${Math.floor(m / 60)} h ${m % 60} min`;
  }

  function duration(r) {
    const start = Date.parse(r.created_at);
    const end = r.finished_at ? Date.parse(r.finished_at) : Date.now();
    return isFinite(start) && isFinite(end) ? Math.max(0, (end - start) / 1000) : null;
  }

  function fmtTime(iso) {
    const t = Date.parse(iso);
    return isFinite(t) ? new Date(t).toLocaleString() : '—';
  }

  const shortId = (id) => (typeof id === 'string' ? id.slice(0, 8) : '—');

  function replace(container, ...children) {
    container.replaceChildren(...children.flat(Infinity).filter((c) => c));
  }

  // ---------------------------------------------------------------- sections

  function render(stale) {
    for (const id of ['running', 'media', 'recent']) $(id).classList.toggle('stale', stale);
    if (stale && state.refreshes.length === 0 && state.media === null) {
      for (const id of ['running', 'media', 'recent']) replace($(id), el('p', {class: 'empty', text: 'No data: see the message above.'}));
      return;
    }
    renderRequestMedia();
    renderRunning();
    renderMedia();
    renderRecent();
  }

  function mediaTypes() {
    const names = new Set();
    if (Array.isArray(state.media)) for (const m of state.media) names.add(m.media_type);
    for (const r of state.refreshes) names.add(r.media_type);
    if (names.size === 0) names.add('image');
    return [...names].sort();
  }

  function renderRequestMedia() {
    const select = $('request-media');
    const have = [...select.options].map((o) => o.value).join(',');
    const want = mediaTypes();
    if (have === want.join(',')) return;
    const chosen = select.value;
    replace(select, want.map((m) => el('option', {value: m, text: m})));
    if (want.includes(chosen)) select.value = chosen;
  }

  function renderRunning() {
    const running = state.refreshes.filter((r) => r.status === 'running');
    const items = running.map((r) => runningRefresh(state.details.get(r.refresh_id) || r));
    for (const [id, req] of state.requested) {
      items.push(el('div', {class: 'running-refresh', 'data-refresh-id': id},
        el('div', {class: 'line'}, el('strong', {text: `${req.media_type} · ${req.mode}`}),
           el('span', {class: 'status-queued', text: 'queued'}), el('code', {text: id}),
           el('span', {class: 'legend', text: 'waiting for the planner to take the request'}))));
    }
    if (items.length === 0) items.push(el('p', {class: 'empty', text: 'No refresh is running.'}));
    replace($('running'), items);
  }

  function runningRefresh(d) {
    const docs = d.documents || {};
    const expected = typeof docs.expected === 'number' && docs.expected > 0 ? docs.expected : null;
    const indexed = docs.indexed || 0;
    const measured = state.rates.get(d.refresh_id);
    let rate = measured && measured.rate !== null ? measured.rate : null;
    if ((rate === null || rate === 0) && typeof d.documents_per_second === 'number') rate = d.documents_per_second;
    let eta = null;
    if (d.phase === 'indexing' && expected !== null && rate > 0) eta = Math.max(0, expected - (docs.rows_read || indexed)) / rate;
    else if (typeof d.eta_seconds === 'number') eta = d.eta_seconds;
    const percent = typeof d.percent === 'number' ? d.percent : (expected ? (100 * indexed) / expected : 0);

    const shards = state.shards.get(d.refresh_id);
    let grid;
    if (shards === 'unavailable') {
      grid = el('p', {class: 'empty', text: 'Shard grid not available from this API.'});
    } else if (!shards || shards.length === 0) {
      grid = el('p', {class: 'empty', text: 'No shards planned yet.'});
    } else {
      grid = el('div', {class: 'shard-grid', 'aria-label': 'shards'}, shards.map((s) => el('span', {
        class: `cell ${s.status}`,
        'data-shard': s.shard,
        'data-attempt': s.attempt,
        title: `shard ${s.shard}: ${s.status}, attempt ${s.attempt}, ${fmtInt(s.rows_read)} rows read, ` +
               `${fmtInt(s.indexed)} indexed${s.worker ? ', ' + s.worker : ''}${s.error ? ' — ' + s.error : ''}`,
        text: s.attempt > 1 ? String(s.attempt) : '',
      })));
    }
    const sh = d.shards || {};
    const cancelling = !!d.cancel_requested_at;
    return el('div', {class: 'running-refresh', 'data-refresh-id': d.refresh_id},
      el('div', {class: 'line'},
        el('strong', {text: `${d.media_type} · ${d.mode || 'full'}`}),
        el('span', {class: 'phase', text: d.phase || '—'}),
        el('code', {title: d.refresh_id, text: shortId(d.refresh_id)}),
        el('span', {text: `requested by ${d.requested_by || '—'}, running ${fmtSeconds(duration(d))}`}),
        cancelling ? el('span', {class: 'status-cancelled', text: 'cancel requested'}) : null,
        el('button', {type: 'button', class: 'danger cancel', onclick: () => cancel(d), disabled: cancelling}, 'Cancel')),
      el('progress', {class: 'documents', max: expected || 1, value: Math.min(indexed, expected || 0),
                      'aria-label': 'documents indexed'}),
      el('div', {class: 'line'},
        el('span', {class: 'percent', text: `${percent.toFixed(1)} %`}),
        el('span', {class: 'indexed', text: `${fmtInt(indexed)} of ${expected ? fmtInt(expected) : '?'} documents indexed`}),
        el('span', {class: 'rate', text: rate !== null ? `${fmtInt(Math.round(rate))} documents/s` : '— documents/s'}),
        el('span', {class: 'eta', text: `ETA ${eta !== null ? fmtSeconds(eta) : '—'}`}),
        d.copy ? el('span', {text: `copy ${d.copy.percent} %`}) : null,
        el('span', {text: `shards ${fmtInt(sh.completed)}/${fmtInt(sh.total)} done, ${fmtInt(sh.running)} running, ` +
                         `${fmtInt(sh.failed)} failed, ${fmtInt(sh.retried)} retried`})),
      grid,
      Array.isArray(d.errors) && d.errors.length ?
        el('div', {class: 'error-text', text: `${d.errors.length} error(s), last: ${d.errors[d.errors.length - 1].error}`}) : null,
      el('div', {class: 'legend'}, 'shards:',
        ['pending', 'running', 'completed', 'failed'].map((s) => [el('span', {class: `cell ${s}`}), s])));
  }

  function renderMedia() {
    const box = $('media');
    if (state.media === 'unavailable') {
      replace(box, el('p', {class: 'empty', text: 'Kept generations are not available from this API (no /v1/media).'}));
      return;
    }
    if (!Array.isArray(state.media)) return;
    if (state.media.length === 0) {
      replace(box, el('p', {class: 'empty', text: 'No media type is configured.'}));
      return;
    }
    const rows = state.media.map((m) => {
      const k = m.kept;
      const run = m.running;
      let why = '';
      if (!k) why = 'nothing is kept';
      else if (run) why = 'a refresh is running';
      else if (k.complete === false) why = 'the kept generation is incomplete';
      return el('tr', {'data-media': m.media_type},
        el('td', {}, el('strong', {text: m.media_type})),
        el('td', {}, el('div', {text: `${m.alias} → ${m.live_index || '—'}`}),
           el('div', {class: 'phases', text: `${m.filtered_alias} → ${m.live_filtered_index || '—'}`})),
        el('td', {text: run ? `${run.mode} · ${run.phase} (${shortId(run.refresh_id)})` : '—'}),
        el('td', {}, k ? [
          el('div', {text: `${k.index} (${k.mode}, ${shortId(k.refresh_id)})`}),
          el('div', {class: 'phases', text: `kept until ${fmtTime(k.kept_until)}${k.complete === false ? ', incomplete' : ''}` +
                                             `${Array.isArray(k.problems) && k.problems.length ? ': ' + k.problems.join('; ') : ''}`}),
        ] : el('span', {class: 'empty', text: 'none'})),
        el('td', {}, el('button', {type: 'button', class: 'danger rollback', disabled: !!why, title: why || 'put the kept generation back live',
                                   onclick: () => rollback(m)}, 'Roll back')));
    });
    replace(box, el('table', {},
      el('thead', {}, el('tr', {}, ['media', 'live', 'running', 'kept generation', ''].map((h) => el('th', {text: h})))),
      el('tbody', {}, rows)));
  }

  function phasesText(report) {
    if (!report || !Array.isArray(report.phases) || report.phases.length === 0) return '—';
    return report.phases.map((p) => `${p.name} ${fmtSeconds(p.seconds)}`).join(' · ');
  }

  function renderRecent() {
    const box = $('recent');
    if (state.refreshes.length === 0) {
      replace(box, el('p', {class: 'empty', text: 'No refresh has run yet.'}));
      return;
    }
    const rows = [];
    for (const r of state.refreshes) {
      const d = state.details.get(r.refresh_id) || r;
      const report = d.report && typeof d.report === 'object' ? d.report : null;
      const open = state.expanded.has(r.refresh_id);
      rows.push(el('tr', {class: 'refresh-row', 'data-refresh-id': r.refresh_id, 'data-status': r.status},
        el('td', {title: r.refresh_id, text: fmtTime(r.created_at)}),
        el('td', {text: r.media_type}),
        el('td', {title: r.mode_reason || '', text: r.mode + (r.mode_reason ? ' (auto)' : '')}),
        el('td', {class: `status-${r.status}`, title: r.error || '', text: r.status + (r.status === 'running' ? ` · ${r.phase}` : '')}),
        el('td', {class: 'num', text: fmtSeconds(duration(r))}),
        el('td', {class: 'phases', text: phasesText(report)}),
        el('td', {}, report || r.error ? el('button', {type: 'button', class: 'toggle-report', 'aria-expanded': String(open),
          onclick: () => { if (open) state.expanded.delete(r.refresh_id); else state.expanded.add(r.refresh_id); render(false); }},
        open ? 'Hide' : (report ? 'Report' : 'Error')) : null)));
      if (open) rows.push(el('tr', {class: 'report', 'data-refresh-id': r.refresh_id}, el('td', {colspan: 7}, reportView(d, report))));
    }
    replace(box, el('table', {},
      el('thead', {}, el('tr', {}, ['requested', 'media', 'mode', 'outcome', 'duration', 'time per phase', ''].map((h) => el('th', {text: h})))),
      el('tbody', {}, rows)));
  }

  function reportView(d, report) {
    const parts = [];
    if (d.error) parts.push(el('p', {class: 'error-text', text: d.error}));
    if (!report) return parts;
    const providers = Array.isArray(report.per_provider) ? report.per_provider : [];
    parts.push(el('table', {class: 'providers'},
      el('thead', {}, el('tr', {}, el('th', {text: 'provider'}), el('th', {class: 'num', text: 'before'}), el('th', {text: ''}),
                                   el('th', {class: 'num', text: 'after'}), el('th', {class: 'num', text: 'change'}))),
      el('tbody', {}, providers.map((p) => el('tr', {class: 'provider-row', 'data-provider': p.provider},
        el('td', {text: p.provider}), el('td', {class: 'num', text: fmtInt(p.before)}), el('td', {text: '→'}),
        el('td', {class: 'num', text: fmtInt(p.after)}),
        el('td', {class: 'num', text: (p.after - p.before >= 0 ? '+' : '') + fmtInt(p.after - p.before)}))),
        el('tr', {class: 'total-row'}, el('td', {}, el('strong', {text: 'all'})), el('td', {class: 'num', text: fmtInt(report.rows_before)}),
           el('td', {text: '→'}), el('td', {class: 'num', text: fmtInt(report.rows_after)}),
           el('td', {class: 'num', text: (report.rows_after - report.rows_before >= 0 ? '+' : '') + fmtInt(report.rows_after - report.rows_before)})))));
    const c = report.changes;
    parts.push(el('p', {class: 'phases', text:
      `${fmtInt(report.documents_indexed)} documents indexed, ${fmtInt(report.filtered_out)} filtered out, ` +
      `${fmtInt(report.dead_lettered)} dead-lettered, ${fmtInt(report.tags_filtered_rows)} rows with tags filtered` +
      (c ? `; created ${fmtInt(c.created)}, updated ${fmtInt(c.updated)}, deleted ${fmtInt(c.deleted)}, re-flagged ${fmtInt(c.reflagged)}` : '')}));
    return parts;
  }

  // ---------------------------------------------------------------- actions

  // The answer to an action, said plainly: accepted, refused for the token, or the API's reason.
  function actionFailed(what, e, a) {
    if (e) showResult(`${what} failed: the API does not answer (${e.message}).`, 'refused');
    else if (a.status === 401) showResult(`${what} was refused: ${refusedText()}.`, 'refused');
    else showResult(`${what} was refused (HTTP ${a.status}): ${errorText(a)}`, 'refused');
  }

  async function act(what, method, path, body) {
    let a;
    try {
      a = await api(method, path, body);
    } catch (e) {
      actionFailed(what, e);
      return null;
    }
    if (a.status >= 200 && a.status < 300) return a.body || {};
    actionFailed(what, null, a);
    return null;
  }

  async function requestRefresh(ev) {
    ev.preventDefault();
    const media = $('request-media').value;
    const mode = $('request-mode').value;
    const options = {requested_by: 'console'};
    let what = `a ${mode} refresh of ${media}`;
    if (mode === 'sample') {
      const size = parseInt($('sample-size').value, 10);
      if (!(size > 0)) {
        showResult('The sample size must be a positive number.', 'refused');
        return;
      }
      const unit = $('sample-unit').value;
      options.sample = unit === 'percent' ? {percent: size} : {rows: size};
      if ($('sample-by').value) options.sample_by = $('sample-by').value;
      what = `a sample refresh of ${media} (${size}${unit === 'percent' ? ' %' : ' rows'}${options.sample_by ? ' by ' + options.sample_by : ''})`;
    }
    if (!confirm(`Request ${what}?`)) return;
    const body = await act('The request', 'POST', '/v1/refreshes', {media_type: media, mode, options});
    if (!body) return;
    state.requested.set(body.refresh_id, {media_type: media, mode: body.mode || mode});
    showResult(`Requested ${what}: refresh ${body.refresh_id} is ${body.status || 'queued'}.`, 'ok');
    render(false);
    poll();
  }

  async function cancel(d) {
    if (!confirm(`Cancel the ${d.media_type} refresh ${d.refresh_id} (phase ${d.phase})? It is rolled back; live data stays.`)) return;
    const body = await act('The cancel request', 'POST', `/v1/refreshes/${d.refresh_id}/cancel`, {requested_by: 'console'});
    if (!body) return;
    showResult(`Cancel of ${d.refresh_id} accepted: ${body.status || 'cancelling'}.`, 'ok');
    poll();
  }

  async function rollback(m) {
    const k = m.kept || {};
    if (!confirm(`Roll ${m.media_type} back to the kept generation ${k.index || ''} (refresh ${k.refresh_id || '?'})?`)) return;
    const body = await act('The roll back request', 'POST', `/v1/media/${encodeURIComponent(m.media_type)}/rollback`, {requested_by: 'console'});
    if (!body) return;
    if (body.refresh_id) state.requested.set(body.refresh_id, {media_type: m.media_type, mode: 'rollback'});
    showResult(`Roll back of ${m.media_type} requested: refresh ${body.refresh_id || '?'} is ${body.status || 'queued'}.`, 'ok');
    poll();
  }

  // ---------------------------------------------------------------- start

  function start() {
    loadToken();
    $('token-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      state.token = $('token').value.trim();
      if (state.token) sessionStorage.setItem(kTokenKey, state.token);
      else sessionStorage.removeItem(kTokenKey);
      showTokenState();
      showResult('', '');
      poll();
    });
    $('forget-token').addEventListener('click', () => {
      state.token = '';
      sessionStorage.removeItem(kTokenKey);
      showTokenState();
      poll();
    });
    $('request-mode').addEventListener('change', () => { $('sample-options').hidden = $('request-mode').value !== 'sample'; });
    $('request-form').addEventListener('submit', requestRefresh);
    window.addEventListener('hashchange', () => { loadToken(); poll(); });
    renderRequestMedia();
    poll();
  }

  start();
})();
