(function () {
  'use strict';
  // Everything shown from the data goes through textContent / DOM properties, never markup.
  var D = JSON.parse(document.getElementById('report-data').textContent);
  var F = D.f;
  var ID = 0, RULE = 1, SEV = 2, ST = 3, LC = 4, TEN = 5, RT = 6, RID = 7, NAME = 8, MSG = 9,
    TITLE = 10, REM = 11, SEEN = 12, EXC = 13, COMP = 14, EV = 15;
  var SEVS = ['critical', 'high', 'medium', 'low', 'info'];
  var STATUSES = ['fail', 'unknown', 'muted', 'resolved'];
  var LIFECYCLES = ['new', 'open', 'reopened', 'resolved'];
  var ROW_H = 36, OVERSCAN = 12, PRINT_MAX = 5000;

  var $ = function (id) { return document.getElementById(id); };
  var scroller = $('table-scroll'), tbody = $('rows'), table = $('findings-table');
  var countEl = $('count'), emptyEl = $('empty'), dialog = $('detail');
  var sel = { sev: $('f-sev'), status: $('f-status'), lifecycle: $('f-lifecycle'),
    rule: $('f-rule'), tenant: $('f-tenant'), control: $('f-control') };
  var search = $('q'), above = $('f-sev-above');

  var sortKey = 'sev', sortDir = 1, order = null, view = [], active = 0;
  var compSets = D.c.map(function (ids) { return new Set(ids); });

  // Control and bidi-override characters are shown as visible escapes, not obeyed.
  var HIDDEN = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;
  function vis(s) {
    return String(s).replace(HIDDEN, function (c) {
      var n = c.charCodeAt(0);
      return n < 256 ? '\\x' + ('0' + n.toString(16)).slice(-2) : '\\u' + n.toString(16);
    });
  }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined && text !== null) { e.textContent = vis(text); }
    return e;
  }
  function cap(s) { return s ? s.charAt(0).toUpperCase() + s.slice(1) : ''; }
  function keyLabel(r) { return r[RT] === 1 ? 'tenant ' + r[NAME] : r[NAME] + '  #' + r[RID]; }
  // Shared sentences hold NUL where the key's name goes (see htmldata.py).
  function tpl(i, r) {
    if (typeof i === 'string') { return i; }  // kept verbatim: it holds a NUL itself
    var t = D.s[i];
    return t.indexOf('\u0000') < 0 ? t : t.split('\u0000').join(r[NAME]);
  }
  function msg(r) { return tpl(r[MSG], r); }
  function seen(r) { return r[SEEN] >= 0 ? D.s[r[SEEN]] : null; }
  function evidence(r) {
    var e = r[EV], out = {};
    if (!e) { return out; }
    var keys = D.ek[e[0]];
    for (var k = 0; k < keys.length; k++) { out[keys[k]] = D.ev[e[k + 1]]; }
    return out;
  }
  function lower(s) { return (s === null || s === undefined) ? '' : String(s).toLowerCase(); }

  // ---- sorting: one ordering of all findings per sort key; filters keep that order ----------
  function ranks(names) {
    var idx = names.map(function (_, i) { return i; });
    idx.sort(function (a, b) { var x = lower(names[a]), y = lower(names[b]); return x < y ? -1 : x > y ? 1 : 0; });
    var rank = new Int32Array(names.length);
    idx.forEach(function (v, i) { rank[v] = i; });
    return rank;
  }
  var ruleRank = ranks(D.rules.map(function (r) { return r[0]; }));
  var tenantRank = ranks(D.tenants);
  function keyOf(k) {
    switch (k) {
      case 'sev': return function (r) { return r[SEV]; };
      case 'status': return function (r) { return r[ST]; };
      case 'lifecycle': return function (r) { return r[LC]; };
      case 'rule': return function (r) { return ruleRank[r[RULE]]; };
      case 'tenant': return function (r) { return tenantRank[r[TEN]]; };
      case 'key': return function (r) { return lower(r[NAME]); };
      case 'message': return function (r) { return lower(msg(r)); };
      default: return function (r) { return seen(r) || '\uffff'; };
    }
  }
  function buildOrder() {
    var get = keyOf(sortKey), keys = new Array(F.length), idx = new Array(F.length);
    for (var i = 0; i < F.length; i++) { keys[i] = get(F[i]); idx[i] = i; }
    var dir = sortDir;
    // Ties keep the report's default order (severity, rule, tenant, key) = the data's order.
    idx.sort(function (a, b) { var x = keys[a], y = keys[b]; return x < y ? -dir : x > y ? dir : a - b; });
    order = idx;
  }

  // ---- filtering -------------------------------------------------------------------------
  // The search index (one lower-case string per finding) is built in small slices while the
  // reader looks at the page; a search before it is done finishes it at once.
  var hay = new Array(F.length), hayDone = 0;
  function hayUpTo(end) {
    for (; hayDone < end; hayDone++) {
      var r = F[hayDone], exc = r[EXC] >= 0 ? D.x[r[EXC]] : null;
      hay[hayDone] = [r[ID], D.rules[r[RULE]][0], D.s[r[TITLE]], D.tenants[r[TEN]], r[NAME],
        r[RID], msg(r), r[EV] ? JSON.stringify(evidence(r)) : '', exc ? JSON.stringify(exc) : ''
      ].join('\n').toLowerCase();
    }
  }
  function mark(name) { if (window.performance && performance.mark) { performance.mark(name); } }
  function haystack() {
    if (hayDone < F.length) { hayUpTo(F.length); mark('report-index'); }
    return hay;
  }
  function buildSlice() {
    if (hayDone >= F.length) { return; }
    hayUpTo(Math.min(F.length, hayDone + 4000));
    if (hayDone < F.length) { setTimeout(buildSlice, 0); } else { mark('report-index'); }
  }
  function num(s) { return s.value === '' ? -1 : Number(s.value); }
  function apply(keepActive) {
    if (!order) { buildOrder(); }
    var fs = num(sel.sev), fst = num(sel.status), flc = num(sel.lifecycle), fr = num(sel.rule),
      ft = num(sel.tenant), fc = num(sel.control);
    var up = above.checked;  // "and above": this severity or a more severe one (lower index)
    var terms = search.value.toLowerCase().split(/\s+/).filter(Boolean);
    var h = terms.length ? haystack() : null, out = [];
    for (var k = 0; k < order.length; k++) {
      var i = order[k], r = F[i];
      if ((fs >= 0 && (up ? r[SEV] > fs : r[SEV] !== fs)) || (fst >= 0 && r[ST] !== fst) || (flc >= 0 && r[LC] !== flc) ||
          (fr >= 0 && r[RULE] !== fr) || (ft >= 0 && r[TEN] !== ft) ||
          (fc >= 0 && !compSets[r[COMP]].has(fc))) { continue; }
      if (h) {
        var s = h[i], ok = true;
        for (var t = 0; t < terms.length; t++) { if (s.indexOf(terms[t]) < 0) { ok = false; break; } }
        if (!ok) { continue; }
      }
      out.push(i);
    }
    view = out;
    if (!keepActive) { active = 0; scroller.scrollTop = 0; }
    active = Math.min(active, Math.max(view.length - 1, 0));
    table.setAttribute('aria-rowcount', String(view.length + 1));
    countEl.textContent = view.length === F.length
      ? F.length.toLocaleString('en-US') + ' findings'
      : view.length.toLocaleString('en-US') + ' of ' + F.length.toLocaleString('en-US') + ' findings';
    emptyEl.hidden = view.length !== 0;
    emptyEl.textContent = F.length ? 'No finding matches these filters.' : 'No findings in this run.';
    countEl.dataset.query = search.value;
    writeState();
    render();
  }

  // ---- the filters in the address: #findings?sev=high&above=1&status=fail&q=... ------------
  // Names, not indices, so a bookmark survives another run's data; nothing is fetched.
  var PREFIX = '#findings?', restoring = false;
  function stateString() {
    var p = new URLSearchParams(), v;
    if (sel.sev.value !== '') { p.set('sev', SEVS[Number(sel.sev.value)]); }
    if (above.checked && sel.sev.value !== '') { p.set('above', '1'); }
    if (sel.status.value !== '') { p.set('status', STATUSES[Number(sel.status.value)]); }
    if (sel.lifecycle.value !== '') { p.set('lifecycle', LIFECYCLES[Number(sel.lifecycle.value)]); }
    if (sel.rule.value !== '') { p.set('rule', D.rules[Number(sel.rule.value)][0]); }
    if (sel.tenant.value !== '') { p.set('tenant', D.tenants[Number(sel.tenant.value)]); }
    if (sel.control.value !== '') {
      v = D.controls[Number(sel.control.value)];
      p.set('control', v[0] + ':' + v[2]);
    }
    if (search.value) { p.set('q', search.value); }
    if (sortKey !== 'sev' || sortDir !== 1) { p.set('sort', sortKey + (sortDir === 1 ? '' : ':desc')); }
    return p.toString();
  }
  function writeState() {
    if (restoring || !window.history || !history.replaceState) { return; }
    var q = stateString(), here = location.hash;
    if (!q && here.indexOf(PREFIX) !== 0) { return; }  // leave a section link (#by-rule) alone
    var next = q ? PREFIX + q : '#findings';
    if (here !== next) {
      try { history.replaceState(null, '', next); } catch (e) { /* an opaque origin: no address */ }
    }
  }
  function pick(select, value) {
    select.value = value < 0 ? '' : String(value);
    if (select.selectedIndex < 0) { select.value = ''; }
  }
  function readState() {
    var h = location.hash;
    if (h.indexOf(PREFIX) !== 0) { return false; }
    var p = new URLSearchParams(h.slice(PREFIX.length)), c, i;
    restoring = true;
    reset();
    pick(sel.sev, SEVS.indexOf(p.get('sev') || ''));
    above.checked = p.get('above') === '1' && sel.sev.value !== '';
    pick(sel.status, STATUSES.indexOf(p.get('status') || ''));
    pick(sel.lifecycle, LIFECYCLES.indexOf(p.get('lifecycle') || ''));
    if (p.has('rule')) { pick(sel.rule, indexOf(D.rules, function (r) { return r[0] === p.get('rule'); })); }
    if (p.has('tenant')) { pick(sel.tenant, D.tenants.indexOf(p.get('tenant'))); }
    if (p.has('control')) {
      c = p.get('control'); i = c.indexOf(':');
      pick(sel.control, indexOf(D.controls, function (x) { return x[0] === c.slice(0, i) && x[2] === c.slice(i + 1); }));
    }
    search.value = p.get('q') || '';
    var sort = (p.get('sort') || 'sev').split(':');
    if (['sev', 'status', 'lifecycle', 'rule', 'tenant', 'key', 'message', 'seen'].indexOf(sort[0]) >= 0) {
      setSort(sort[0], sort[1] === 'desc' ? -1 : 1);
    }
    restoring = false;
    return true;
  }

  // ---- rendering: only the rows in (and near) the viewport exist in the DOM ---------------
  function cell(tr, child, title) {
    var td = el('td');
    if (typeof child === 'string') { td.textContent = vis(child); } else { td.appendChild(child); }
    if (title) { td.title = vis(title); }
    tr.appendChild(td);
  }
  function row(pos) {
    var i = view[pos], r = F[i], tr = el('tr', 'row');
    tr.dataset.pos = String(pos);
    tr.tabIndex = pos === active ? 0 : -1;
    tr.setAttribute('aria-rowindex', String(pos + 2));
    var sev = SEVS[r[SEV]] || 'unknown', st = STATUSES[r[ST]] || '', lc = LIFECYCLES[r[LC]] || '';
    cell(tr, el('span', 'sev sev-' + sev, cap(sev)));
    cell(tr, el('span', 'st st-' + st, st));
    cell(tr, el('span', 'st st-' + lc, lc));
    cell(tr, D.rules[r[RULE]][0], D.s[r[TITLE]]);
    cell(tr, D.tenants[r[TEN]], D.tenants[r[TEN]]);
    cell(tr, keyLabel(r), keyLabel(r));
    var m = msg(r), s = seen(r);
    cell(tr, m, m);
    cell(tr, s ? s.slice(0, 10) : '—');
    return tr;
  }
  function pad(height) {
    var tr = el('tr', 'pad'), td = el('td');
    td.colSpan = 8;
    tr.setAttribute('aria-hidden', 'true');
    tr.style.height = height + 'px';
    tr.appendChild(td);
    return tr;
  }
  function render(from, to) {
    var hadFocus = tbody.contains(document.activeElement);
    var n = view.length, head = table.tHead.offsetHeight;
    var top = Math.max(0, scroller.scrollTop - head);
    // Before the first rows exist the box is short: size for the tallest it can become.
    var height = Math.max(scroller.clientHeight, window.innerHeight);
    var first = from !== undefined ? from : Math.max(0, Math.floor(top / ROW_H) - OVERSCAN);
    var last = to !== undefined ? to : Math.min(n, Math.ceil((top + height) / ROW_H) + OVERSCAN);
    var nodes = [pad(first * ROW_H)];
    for (var p = first; p < last; p++) { nodes.push(row(p)); }
    nodes.push(pad((n - last) * ROW_H));
    tbody.replaceChildren.apply(tbody, nodes);
    if (hadFocus) { focusActive(false); }
  }
  var ticking = false;
  scroller.addEventListener('scroll', function () {
    if (ticking) { return; }
    ticking = true;
    requestAnimationFrame(function () { ticking = false; render(); });
  });
  window.addEventListener('resize', function () { render(); });

  // ---- keyboard: one focusable row (roving tabindex); arrows move, Enter opens -------------
  function rowEl(pos) { return tbody.querySelector('tr.row[data-pos="' + pos + '"]'); }
  function focusActive(scroll) {
    if (scroll) {
      var head = table.tHead.offsetHeight, y = active * ROW_H;
      if (y < scroller.scrollTop) { scroller.scrollTop = y; render(); } else if (y + ROW_H + head > scroller.scrollTop + scroller.clientHeight) {
        scroller.scrollTop = y + ROW_H + head - scroller.clientHeight; render();
      }
    }
    var tr = rowEl(active);
    if (tr) {
      tbody.querySelectorAll('tr.row[tabindex="0"]').forEach(function (x) { x.tabIndex = -1; });
      tr.tabIndex = 0;
      tr.focus({ preventScroll: true });
      if (scroll) { tr.scrollIntoView({ block: 'nearest' }); }  // the window, if needed
    }
  }
  tbody.addEventListener('keydown', function (e) {
    if (!view.length) { return; }
    var page = Math.max(1, Math.floor(scroller.clientHeight / ROW_H) - 1), next = active;
    switch (e.key) {
      case 'ArrowDown': next = active + 1; break;
      case 'ArrowUp': next = active - 1; break;
      case 'PageDown': next = active + page; break;
      case 'PageUp': next = active - page; break;
      case 'Home': next = 0; break;
      case 'End': next = view.length - 1; break;
      case 'Enter': case ' ': e.preventDefault(); open(active); return;
      default: return;
    }
    e.preventDefault();
    active = Math.max(0, Math.min(view.length - 1, next));
    focusActive(true);
  });
  tbody.addEventListener('click', function (e) {
    var tr = e.target.closest ? e.target.closest('tr.row') : null;
    if (!tr) { return; }
    active = Number(tr.dataset.pos);
    focusActive(false);
    open(active);
  });

  // ---- the detail dialog: evidence, remediation (with the SOAR UI path), exception -------
  var LABELS = { groups: 'Permission groups', roles: 'SOC roles', environments: 'Environments',
    environments_at_creation: 'Environments at key creation',
    missing_environments: 'Environments not covered', age_days: 'Age (days)',
    stale_environments: 'Stale environments', created_at: 'Created', auth: 'Authentication',
    shutdown: 'Legacy API shutdown', days_left: 'Days left', replacement: 'Replacement' };
  function label(k) { return LABELS[k] || cap(String(k).replace(/_/g, ' ')); }
  function text(v, nested) {
    if (v === null || v === undefined) { return nested ? 'unknown' : '—'; }
    if (typeof v !== 'object') { return String(v); }
    if (Array.isArray(v)) {
      return v.length ? v.map(function (x) { return text(x, true); }).join(', ') : 'none';
    }
    if (v.name !== undefined) {
      var rest = Object.keys(v).filter(function (k) { return k !== 'name'; })
        .map(function (k) { return k.replace(/_/g, ' ') + ': ' + text(v[k], true); });
      return String(v.name) + (rest.length ? ' (' + rest.join(', ') + ')' : '');
    }
    // A nested record (e.g. the replacement of a legacy key): "key: value; key: value".
    return Object.keys(v).map(function (k) {
      var x = v[k];
      var shown = x !== null && typeof x === 'object' && !Array.isArray(x) && x.name === undefined
        ? '{' + text(x, true) + '}' : text(x, true);
      return k.replace(/_/g, ' ') + ': ' + shown;
    }).join('; ');
  }
  function value(v) {
    if (Array.isArray(v)) {
      if (!v.length) { return el('span', 'muted-text', 'none'); }
      var ul = el('ul', 'chips');
      v.forEach(function (x) { ul.appendChild(el('li', null, text(x))); });
      return ul;
    }
    return document.createTextNode(vis(text(v)));
  }
  function kv(dl, pairs) {
    dl.replaceChildren();
    pairs.forEach(function (p) {
      dl.appendChild(el('dt', null, p[0]));
      var dd = el('dd');
      dd.appendChild(p[1] instanceof Node ? p[1] : value(p[1]));
      dl.appendChild(dd);
    });
  }
  function open(pos) {
    if (pos >= view.length) { return; }
    var r = F[view[pos]], sev = SEVS[r[SEV]] || 'unknown', st = STATUSES[r[ST]] || '', lc = LIFECYCLES[r[LC]] || '';
    $('d-rule').textContent = vis(D.rules[r[RULE]][0]);
    $('d-title').textContent = vis(D.s[r[TITLE]]);
    $('d-badges').replaceChildren(el('span', 'sev sev-' + sev, cap(sev)), el('span', 'st st-' + st, st),
      el('span', 'st st-' + lc, lc));
    $('d-message').textContent = vis(msg(r));
    var ev = evidence(r);
    var evPairs = Object.keys(ev).map(function (k) { return [label(k), ev[k]]; });
    kv($('d-evidence'), evPairs.length ? evPairs : [['Evidence', el('span', 'muted-text', 'none recorded')]]);
    kv($('d-meta'), [['Tenant', D.tenants[r[TEN]]], ['Key', r[RT] === 1 ? 'the tenant as a whole' : r[NAME]],
      ['Key id', r[RID]], ['First seen', seen(r)], ['Finding id', r[ID]]]);
    $('d-remediation').textContent = vis(tpl(r[REM], r) || 'No remediation recorded.');
    var exc = r[EXC] >= 0 ? D.x[r[EXC]] : null;
    $('d-exception-box').hidden = !exc;
    if (exc) {
      kv($('d-exception'), ['owner', 'reason', 'expires', 'rule', 'tenant', 'key'].filter(function (k) {
        return exc[k] !== undefined;
      }).map(function (k) { return [cap(k), exc[k]]; }));
    }
    var rule = D.rules[r[RULE]], risk = rule[2] || '', refs = rule[3] || [];
    $('d-why-box').hidden = !risk && !refs.length;
    $('d-risk').textContent = vis(risk);
    $('d-refs').replaceChildren.apply($('d-refs'), refs.filter(function (x) {
      return /^https:\/\//.test(x[1]);  // https only: never a javascript: or data: link
    }).map(function (x) {
      var li = el('li'), a = el('a', null, x[0]);
      a.href = x[1];
      a.rel = 'noopener noreferrer';
      a.target = '_blank';
      li.appendChild(a);
      return li;
    }));
    var comp = $('d-compliance');
    comp.replaceChildren();
    D.c[r[COMP]].forEach(function (ci) {
      var c = D.controls[ci];
      comp.appendChild(el('li', null, c[1] + ' · ' + c[2]));
    });
    if (!comp.childNodes.length) { comp.appendChild(el('li', null, 'no mapping')); }
    if (!dialog.open) { dialog.showModal(); }
    $('d-close').focus();
  }
  $('d-close').addEventListener('click', function () { dialog.close(); });
  dialog.addEventListener('click', function (e) { if (e.target === dialog) { dialog.close(); } });
  dialog.addEventListener('close', function () { focusActive(true); });

  // ---- controls ----------------------------------------------------------------------------
  var timer = 0;
  search.addEventListener('input', function () {
    clearTimeout(timer);
    timer = setTimeout(function () { apply(false); }, F.length > 20000 ? 200 : 60);
  });
  Object.keys(sel).forEach(function (k) { sel[k].addEventListener('change', function () { apply(false); }); });
  above.addEventListener('change', function () { apply(false); });
  window.addEventListener('hashchange', function () { if (readState()) { apply(false); } });
  $('filters').addEventListener('submit', function (e) { e.preventDefault(); clearTimeout(timer); apply(false); });
  function reset() {
    Object.keys(sel).forEach(function (k) { sel[k].value = ''; });
    above.checked = false;
    search.value = '';
  }
  $('reset').addEventListener('click', function () { reset(); apply(false); });
  table.tHead.addEventListener('click', function (e) {
    var th = e.target.closest ? e.target.closest('th[data-sort]') : null;
    if (!th) { return; }
    var k = th.dataset.sort;
    setSort(k, k === sortKey ? -sortDir : 1);
    apply(false);
  });
  function setSort(k, dir) {
    sortKey = k;
    sortDir = dir;
    table.tHead.querySelectorAll('th[data-sort]').forEach(function (x) {
      if (x.dataset.sort === k) { x.setAttribute('aria-sort', dir === 1 ? 'ascending' : 'descending'); } else { x.removeAttribute('aria-sort'); }
    });
    order = null;
  }
  function indexOf(list, pred) { for (var i = 0; i < list.length; i++) { if (pred(list[i])) { return i; } } return -1; }
  document.querySelectorAll('[data-show]').forEach(function (b) {
    b.addEventListener('click', function () {
      var d = b.dataset;
      reset();
      if (d.status) { sel.status.value = d.status; }
      if (d.rule) { sel.rule.value = String(indexOf(D.rules, function (r) { return r[0] === d.rule; })); }
      if (d.tenant) { sel.tenant.value = String(D.tenants.indexOf(d.tenant)); }
      if (d.control) {
        sel.control.value = String(indexOf(D.controls, function (c) { return c[0] === d.framework && c[2] === d.control; }));
      }
      Object.keys(sel).forEach(function (k) { if (sel[k].selectedIndex < 0) { sel[k].value = ''; } });
      apply(false);
      $('findings').scrollIntoView();
      var tr = rowEl(0);
      if (tr) { tr.focus({ preventScroll: true }); } else { search.focus(); }
    });
  });

  // ---- print: the rows of the current view (up to PRINT_MAX), details opened ---------------
  window.addEventListener('beforeprint', function () {
    document.querySelectorAll('details').forEach(function (d) { d.open = true; });
    render(0, Math.min(view.length, PRINT_MAX));
  });
  window.addEventListener('afterprint', function () { render(); });

  var fromAddress = readState();
  apply(false);
  if (fromAddress) { $('findings').scrollIntoView(); }
  setTimeout(buildSlice, 300);
  document.documentElement.dataset.ready = 'true';
  mark('report-rows');
})();
