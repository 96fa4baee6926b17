// app.js: the staff console: sign-in, then a page per hash route (#/dashboard, #/tenants,
// #/tenants/ten_N, #/control, #/finance, #/pools, #/meters, #/admin), kept current by the
// server's live events. Every figure comes from the API; nothing is computed from money but
// its display.
import { api, all, ApiError, currentSession, signIn, signOut, events, newKey } from '/console/common/api.js';
import { h, field, select, clear, announce, confirmDialog } from '/console/common/dom.js';
import * as L from '/console/common/i18n.js';
import { dailyBars } from '/console/common/chart.js';

const { t } = L;
const S = { session: null, sites: [], site: null, stop: null, subs: new Map(), live: false };

// --- live events: one stream for the session, pages subscribe for as long as they are shown
function on(name, fn) {
  if (!S.subs.has(name)) S.subs.set(name, new Set());
  S.subs.get(name).add(fn);
  pageSubs.push(() => S.subs.get(name).delete(fn));
}
let pageSubs = [];
function startEvents() {
  if (S.stop) S.stop();
  const fan = (name) => (d) => { for (const fn of S.subs.get(name) || []) fn(d); };
  S.stop = events({ account: fan('account'), alarm: fan('alarm'), command: fan('command'), payment: fan('payment') },
    (st) => { S.live = st === 'open'; const el = document.getElementById('live'); if (el) el.textContent = S.live ? t('live') : t('live.off'); });
}

function role() { return S.session ? S.session.user.role : ''; }
// a user bound to several sites names the chosen one on lists that would span them (one site is implied)
function boundSite() { return S.session && S.session.user.site_ids.length > 1 && S.site ? `&site_id=${S.site.id}` : ''; }
function can(...roles) { return roles.includes(role()) || role() === 'admin'; }

function errorText(e) {
  if (!(e instanceof ApiError)) return t('err.network');
  if (/lock/.test(e.code)) return t('err.locked');
  if (e.status === 401) return t('err.bad_credentials');
  if (e.status === 403 && /csrf/i.test(e.code + e.message)) return t('err.csrf');
  if (e.status === 403) return t('err.forbidden');
  if (e.status === 404) return t('err.not_found');
  return t('err.generic', { msg: e.message });
}
function fail(e) { announce(errorText(e), 'error'); }

function table(caption, cols, rows, rowAttrs) {
  return h('table', {},
    h('caption', { class: 'sr-only', text: caption }),
    h('thead', {}, h('tr', {}, cols.map((c) => h('th', { scope: 'col', class: c.num ? 'num' : null, text: c.label })))),
    h('tbody', {}, rows.map((r) => h('tr', rowAttrs ? rowAttrs(r) : {},
      cols.map((c) => { const v = c.get(r); return h('td', { class: c.num ? 'num' : null }, v instanceof Node ? v : String(v ?? '—')); })))));
}
function badge(cls, text) { return h('span', { class: `badge ${cls}`, text }); }
function stateBadge(s) { return badge(`state-${s}`, t(`state.${s}`)); }
function currency() { return (S.site && S.site.currency) || 'CNY'; }

// --- the frame: header with the navigation, the site and the language
const NAV = [
  ['dashboard', ['finance', 'operator']], ['tenants', ['finance']], ['control', ['operator']],
  ['finance', ['finance']], ['pools', ['finance']], ['meters', ['operator']], ['admin', ['finance']],
];
function frame() {
  const top = clear(document.getElementById('top'));
  document.title = t('app.staff');
  top.append(h('h1', { text: t('app.staff') }));
  if (S.session) {
    const cur = (location.hash.slice(2) || 'dashboard').split(/[/?]/)[0];
    top.append(h('nav', { class: 'main', 'aria-label': t('nav.label') }, h('ul', {},
      NAV.filter(([, roles]) => can(...roles)).map(([k]) =>
        h('li', {}, h('a', { href: `#/${k}`, 'aria-current': k === cur ? 'page' : null, text: t(`nav.${k}`) }))))));
    if (S.sites.length > 1) {
      const s = select(t('site'), S.sites.map((x) => [x.id, x.name]), { id: 'site-switch' });
      s.input.value = S.site.id;
      s.input.addEventListener('change', () => { S.site = S.sites.find((x) => x.id === s.input.value); L.setZone(S.site.timezone); render(); });
      top.append(s.wrap);
    }
  }
  top.append(h('span', { class: 'spacer' }));
  if (S.session) {
    top.append(h('span', { id: 'live', 'aria-live': 'polite', text: S.live ? t('live') : t('live.off') }));
    top.append(h('span', { text: t('signin.as', { user: S.session.user.username, role: S.session.user.role }) }));
    top.append(h('button', { type: 'button', id: 'signout', text: t('signin.out'),
      onclick: async () => { await signOut().catch(() => {}); if (S.stop) S.stop(); S.session = null; render(); } }));
  }
  top.append(L.languageSwitch(() => render()));
}

// --- sign-in
function signInPage(view) {
  const u = field(t('signin.username'), { name: 'username', autocomplete: 'username', required: true });
  const p = field(t('signin.password'), { name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const form = h('form', { class: 'signin', id: 'signin' }, h('h2', { text: t('signin.title') }), u.wrap, p.wrap,
    h('button', { type: 'submit', class: 'primary', text: t('signin.submit') }));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    announce('');
    try {
      S.session = await signIn(u.input.value, p.input.value);
      await afterSignIn();
    } catch (err) { p.input.value = ''; fail(err); p.input.focus(); }
  });
  view.append(form);
  u.input.focus();
}

async function afterSignIn() {
  try { S.sites = (await api('GET', '/v1/sites?limit=1000')).items; } catch { S.sites = []; }
  S.site = S.sites[0] || null;
  if (S.site) L.setZone(S.site.timezone);
  startEvents();
  const home = role() === 'operator' ? '#/control' : '#/dashboard';
  if (!location.hash || location.hash === '#/') location.hash = home; // the hashchange draws it
  else render();
}

// --- dashboard
async function dashboardPage(view) {
  view.append(h('h2', { text: t('nav.dashboard') }));
  if (!S.site) return;
  const t0 = performance.now();
  const d = await api('GET', `/v1/dashboard?site_id=${S.site.id}`);
  const cur = d.currency;
  const card = (title, body, id) => h('section', { class: 'card', id, 'aria-labelledby': `${id}-h` }, h('h3', { id: `${id}-h`, text: title }), body);
  const dl = (pairs) => h('dl', {}, pairs.flatMap(([k, v]) => [h('dt', { text: k }), h('dd', { text: v })]));
  view.append(h('div', { class: 'cards' },
    card(t('dash.liability'), h('div', { class: 'big', text: L.money(d.prepaid_liability_minor, cur) }), 'd-liability'),
    card(t('dash.states'), dl(['normal', 'warned', 'grace', 'cut_off'].map((s) => [t(`state.${s}`), L.count(d.tenants_by_state[s])])), 'd-states'),
    card(t('dash.topups'), d.topups_today.length
      ? dl(d.topups_today.map((x) => [`${t(`channel.${x.channel}`)} (${L.count(x.count)})`, L.money(x.amount_minor, cur)]))
      : h('p', { class: 'muted', text: t('none') }), 'd-topups'),
    card(t('dash.alarms'), dl([...['critical', 'major', 'minor'].map((s) => [t(`sev.${s}`), L.count(d.alarms_open[s])]),
      [t('dash.acked'), L.count(d.alarms_acked)]]), 'd-alarms'),
    card(t('dash.commands'), dl([[t('dash.pending'), L.count(d.commands.pending)], [t('dash.failed'), L.count(d.commands.failed_24h)]]), 'd-commands')));
  const chart = h('div', { class: 'chart', id: 'd-chart' });
  view.append(h('h3', { text: t('dash.consumption') }), chart);
  document.body.dataset.firstRenderMs = String(Math.round(performance.now() - t0));
  const days = []; for (let i = 13; i >= 0; i--) days.push(L.daysAgo(i));
  const byDay = Object.fromEntries(d.energy_by_day.map((x) => [x.day, x.energy_wh]));
  // drawn once the page is shown (the figures do not wait for the charting library)
  setTimeout(() => dailyBars(chart, days, [{ label: t('t.energy'), values: days.map((x) => (byDay[x] || 0) / 1000), color: '#0b5cad' }],
    (v) => `${v} kWh`, t('dash.consumption')).catch(() => chart.replaceChildren(h('p', { class: 'muted', text: t('err.network') }))), 0);
  on('account', () => {}); // the figures are a snapshot; reloading the page redraws them
}

// --- tenants
async function tenantsPage(view, params) {
  view.append(h('h2', { text: t('nav.tenants') }));
  const q = field(t('tenants.search'), { type: 'search', id: 'tenant-search', value: params.get('q') || '' });
  const st = select(t('tenants.state'), [['', t('tenants.all')], ...['normal', 'warned', 'grace', 'cut_off'].map((s) => [s, t(`state.${s}`)])], { id: 'tenant-state' });
  st.input.value = params.get('state') || '';
  const rt = select(t('tenants.rating'), [['', t('tenants.all')], ...['A', 'B', 'C', 'D'].map((r) => [r, r])], { id: 'tenant-rating' });
  rt.input.value = params.get('credit_rating') || '';
  const cat = field(t('tenants.category'), { id: 'tenant-category', value: params.get('category') || '', autocomplete: 'off' });
  const form = h('form', { class: 'row', role: 'search' }, q.wrap, st.wrap, rt.wrap, cat.wrap, h('button', { type: 'submit', class: 'primary', text: t('tenants.search') }));
  const go = (after) => {
    const p = new URLSearchParams();
    if (q.input.value.trim()) p.set('q', q.input.value.trim());
    if (st.input.value) p.set('state', st.input.value);
    if (rt.input.value) p.set('credit_rating', rt.input.value);
    if (cat.input.value.trim()) p.set('category', cat.input.value.trim());
    if (after) p.set('after', after);
    location.hash = `#/tenants?${p}`;
  };
  form.addEventListener('submit', (e) => { e.preventDefault(); go(null); });
  view.append(form);
  const t0 = performance.now();
  const p = new URLSearchParams({ limit: '50' });
  if (S.site) p.set('site_id', S.site.id);
  for (const k of ['q', 'state', 'credit_rating', 'category', 'after']) if (params.get(k)) p.set(k, params.get(k));
  const page = await api('GET', `/v1/tenants?${p}`);
  const bal = new Map();
  const tbl = table(t('nav.tenants'), [
    { label: t('tenants.name'), get: (x) => h('a', { href: `#/tenants/${x.id}`, text: x.name }) },
    { label: t('tenants.category'), get: (x) => x.category },
    { label: t('tenants.phone'), get: (x) => x.phone || '—' },
    { label: t('tenants.rating'), get: (x) => x.credit_rating },
    { label: t('tenants.state'), get: (x) => { const s = h('span', { 'data-state': x.id }); bal.set(x.id, s); return s; } },
    { label: t('tenants.balance'), num: true, get: (x) => h('span', { 'data-balance': x.id, text: '…' }) },
  ], page.items);
  view.append(h('p', { class: 'muted', text: t('tenants.count', { n: page.items.length }) }), tbl);
  const nav = h('div', { class: 'row' });
  if (params.get('after')) nav.append(h('button', { type: 'button', text: t('tenants.prev'), onclick: () => go(null) }));
  if (page.next_after) nav.append(h('button', { type: 'button', id: 'tenants-next', text: t('tenants.next'), onclick: () => go(page.next_after) }));
  view.append(nav);
  document.body.dataset.firstRenderMs = String(Math.round(performance.now() - t0));
  const show = (a) => {
    const b = view.querySelector(`[data-balance="${a.tenant_id}"]`);
    if (b) b.textContent = L.money(a.balance_minor, a.currency || currency());
    const s = bal.get(a.tenant_id);
    if (s) s.replaceChildren(stateBadge(a.state));
  };
  on('account', show);
  for (const x of page.items) if (x.account) show({ tenant_id: x.id, ...x.account });
}

// --- one tenant
async function tenantPage(view, id) {
  // an operator may not read the tenant's record (admin, finance): the page goes on with its id
  const [ten, acct] = await Promise.all([
    api('GET', `/v1/tenants/${id}`).catch((e) => {
      if (e instanceof ApiError && e.status === 403 && role() === 'operator') return { id, name: id, category: '', credit_rating: '', site_id: S.site && S.site.id };
      throw e;
    }),
    api('GET', `/v1/tenants/${id}/account`)]);
  const cur = acct.currency;
  const balance = h('div', { class: 'big', id: 'tenant-balance', 'aria-live': 'polite', text: L.money(acct.balance_minor, cur) });
  const stateEl = h('div', { id: 'tenant-state' });
  const showAcct = (a) => {
    balance.textContent = L.money(a.balance_minor, cur);
    stateEl.replaceChildren(stateBadge(a.state), ' ', h('span', { text: t(`supply.${a.supply}`) }),
      a.grace_until ? h('span', { class: 'muted', text: ` ${t('tenant.grace_until', { t: L.time(a.grace_until) })}` }) : '');
  };
  showAcct(acct);
  on('account', (a) => { if (a.tenant_id === id) { Object.assign(acct, a); showAcct(acct); refreshLedger(); } });
  view.append(h('h2', { text: ten.name }),
    h('p', { class: 'muted', text: `${ten.category} · ${ten.phone || ''} · ${t('tenants.rating')} ${ten.credit_rating}` }),
    h('div', { class: 'cards' },
      h('section', { class: 'card', 'aria-labelledby': 'bal-h' }, h('h3', { id: 'bal-h', text: t('tenant.balance') }), balance, stateEl)));

  if (can('finance')) view.append(cashierForms(ten, cur, showAcct, acct));

  const ledgerBox = h('div', { id: 'ledger' });
  view.append(h('h3', { text: t('tenant.ledger') }), ledgerBox);
  async function refreshLedger() {
    try {
      const items = await all(`/v1/tenants/${id}/ledger`, 5000);
      const last = items.slice(-100).reverse();
      ledgerBox.replaceChildren(table(t('tenant.ledger'), [
        { label: t('tenant.at'), get: (e) => L.time(e.at) },
        { label: t('tenant.kind'), get: (e) => t(`kind.${e.kind}`) },
        { label: t('tenant.amount'), num: true, get: (e) => L.money(e.amount_minor, cur) },
        { label: t('tenant.after'), num: true, get: (e) => L.money(e.balance_after_minor, cur) },
      ], last));
    } catch (e) { ledgerBox.replaceChildren(h('p', { class: 'muted', text: errorText(e) })); }
  }
  refreshLedger();

  const chart = h('div', { class: 'chart', id: 'tenant-chart' });
  view.append(h('h3', { text: t('tenant.consumption') }), chart);
  api('GET', `/v1/tenants/${id}/consumption?from=${L.daysAgo(29)}&to=${L.daysAgo(-1)}&granularity=day`).then((c) => {
    const days = []; for (let i = 29; i >= 0; i--) days.push(L.daysAgo(i));
    const bands = [...new Set(c.items.flatMap((x) => x.bands.map((b) => b.band)))];
    const colors = ['#0b5cad', '#b00020', '#1e6b34', '#8a5300'];
    const per = (band) => days.map((d) => { const it = c.items.find((x) => x.period === d); const b = it && it.bands.find((y) => y.band === band); return b ? b.energy_wh / 1000 : 0; });
    return dailyBars(chart, days, (bands.length ? bands : ['all']).map((b, i) => ({ label: b, values: per(b), color: colors[i % 4] })),
      (v) => `${v} kWh`, t('tenant.consumption'));
  }).catch((e) => chart.replaceChildren(h('p', { class: 'muted', text: errorText(e) })));

  const meters = h('div', { id: 'meters' });
  view.append(h('h3', { text: t('tenant.meters') }), meters);
  if (can('operator')) {
    api('GET', `/v1/meters?tenant_id=${id}`).then(async (m) => {
      const last = await Promise.all(m.items.map((x) =>
        api('GET', `/v1/meters/${x.id}/readings?from=${encodeURIComponent(new Date(Date.now() - 7 * 864e5).toISOString())}&limit=1000`)
          .then((r) => r.items[r.items.length - 1] || null).catch(() => null)));
      meters.replaceChildren(table(t('tenant.meters'), [
        { label: t('meter.serial'), get: (x) => x.serial },
        { label: t('meter.purpose'), get: (x) => `${x.purpose}${x.protected ? ` (${t('meter.protected')})` : ''}` },
        { label: t('meter.relay'), get: (x, i = m.items.indexOf(x)) => (last[i] && last[i].relay) || '—' },
        { label: t('meter.last'), get: (x, i = m.items.indexOf(x)) => (last[i] ? `${L.energy(last[i].energy_wh)} · ${L.time(last[i].ts)}` : '—') },
        { label: '', get: (x) => commandButtons(x) },
      ], m.items));
    }).catch((e) => meters.replaceChildren(h('p', { class: 'muted', text: errorText(e) })));
  } else meters.append(h('p', { class: 'muted', text: t('tenant.no_meters_role') }));

  // statements and receipts
  const docs = h('div', { id: 'docs' });
  view.append(h('h3', { text: `${t('tenant.statements')} · ${t('tenant.receipts')}` }), docs);
  const period = L.today().slice(0, 7);
  async function refreshDocs() {
    const [reps, recs] = await Promise.all([
      api('GET', `/v1/reports?tenant_id=${id}&kind=tenant_statement`).catch(() => ({ items: [] })),
      api('GET', `/v1/receipts?tenant_id=${id}`).catch(() => ({ items: [] }))]);
    docs.replaceChildren(
      h('ul', { id: 'statements' }, reps.items.map((r) => h('li', {}, `${r.period} `,
        h('a', { href: `/v1/reports/${r.id}?format=html`, target: '_blank', rel: 'noopener', class: 'statement-link', text: t('tenant.open') }), ' ',
        h('a', { href: `/v1/reports/${r.id}?format=csv`, download: `${r.id}.csv`, text: t('tenant.csv') })))),
      h('ul', { id: 'receipts' }, recs.items.map((r) => h('li', {}, `${r.number || r.id} `,
        h('a', { href: `/v1/receipts/${r.id}?format=html`, target: '_blank', rel: 'noopener', class: 'receipt-link', text: t('tenant.open') }), ' ',
        h('a', { href: `/v1/receipts/${r.id}?format=pdf`, target: '_blank', rel: 'noopener', text: 'PDF' })))));
    if (can('finance', 'operator')) {
      docs.append(h('button', { type: 'button', id: 'make-statement', text: t('tenant.make_statement', { period }),
        onclick: async () => {
          try { await api('POST', '/v1/reports', { kind: 'tenant_statement', period, site_id: ten.site_id, tenant_id: id }); await refreshDocs(); } catch (e) { fail(e); }
        } }));
    }
  }
  refreshDocs();
  on('payment', (p) => { if (p.tenant_id === id) refreshDocs(); });

  function commandButtons(m) {
    const send = async (action) => {
      const reason = window.prompt(t('tenant.reason'));
      if (!reason || !reason.trim()) { announce(t('err.reason'), 'error'); return; }
      const ok = await confirmDialog(t(action === 'cut_off' ? 'tenant.confirm_cut' : 'tenant.confirm_restore', { serial: m.serial }),
        [`${t('tenant.reason')}: ${reason}`], t('tenant.confirm'), t('tenant.cancel'));
      if (!ok) return;
      try {
        await api('POST', `/v1/meters/${m.id}/commands`, { action, reason: reason.trim() }, { idem: newKey() });
        announce(t('tenant.command_queued', { serial: m.serial }), 'ok');
      } catch (e) { fail(e); }
    };
    return h('span', { class: 'row' },
      h('button', { type: 'button', class: 'danger', 'aria-label': `${t('tenant.cut')} ${m.serial}`, text: t('tenant.cut'), onclick: () => send('cut_off') }),
      h('button', { type: 'button', 'aria-label': `${t('tenant.restore')} ${m.serial}`, text: t('tenant.restore'), onclick: () => send('restore') }));
  }
}

// The cashier's top-up and the adjustment, each confirmed first; the Idempotency-Key is made
// when the clerk confirms and kept until the server has answered, so a retry after a lost
// answer cannot credit twice.
function cashierForms(ten, cur, showAcct, acct) {
  const box = h('div', { class: 'cards' });
  {
    const amt = field(t('tenant.amount_label', { cur }), { id: 'topup-amount', inputmode: 'decimal', autocomplete: 'off', required: true });
    const ch = select(t('tenant.channel'), ['cash', 'bank', 'card'].map((c) => [c, t(`channel.${c}`)]), { id: 'topup-channel' });
    const ref = field(t('tenant.reference'), { id: 'topup-reference', autocomplete: 'off' });
    let key = null, keyFor = '';
    const form = h('form', { class: 'card', id: 'topup-form', 'aria-labelledby': 'topup-h' }, h('h3', { id: 'topup-h', text: t('tenant.topup') }),
      amt.wrap, ch.wrap, ref.wrap, h('button', { type: 'submit', class: 'primary', id: 'topup-submit', text: t('tenant.do_topup') }));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const minor = L.decimalToMinor(amt.input.value, cur);
      if (minor === null || minor <= 0) { announce(t('err.amount'), 'error'); amt.input.focus(); return; }
      const ok = await confirmDialog(t('tenant.confirm_topup', { amount: L.money(minor, cur), name: ten.name }),
        [`${t('tenant.channel')}: ${t(`channel.${ch.input.value}`)}`, ref.input.value ? `${t('tenant.reference')}: ${ref.input.value}` : ''].filter(Boolean),
        t('tenant.confirm'), t('tenant.cancel'));
      if (!ok) return;
      const body = { amount_minor: minor, channel: ch.input.value };
      if (ref.input.value.trim()) body.reference = ref.input.value.trim();
      const sig = JSON.stringify(body);
      if (keyFor !== sig) { key = newKey(); keyFor = sig; }
      try {
        const entry = await api('POST', `/v1/tenants/${ten.id}/topups`, body, { idem: key });
        key = null; keyFor = '';
        amt.input.value = ''; ref.input.value = '';
        if (entry && entry.balance_after_minor !== undefined) { acct.balance_minor = entry.balance_after_minor; showAcct(acct); }
        announce(t('tenant.done_topup', { amount: L.money(minor, cur), balance: L.money(acct.balance_minor, cur) }), 'ok');
      } catch (err) { if (err instanceof ApiError) { key = null; keyFor = ''; } fail(err); }
    });
    box.append(form);
  }
  {
    const amt = field(t('tenant.amount_label', { cur }), { id: 'adjust-amount', inputmode: 'decimal', autocomplete: 'off', required: true });
    const why = field(t('tenant.reason'), { id: 'adjust-reason', autocomplete: 'off', required: true });
    const form = h('form', { class: 'card', id: 'adjust-form', 'aria-labelledby': 'adj-h' }, h('h3', { id: 'adj-h', text: t('tenant.adjust') }),
      amt.wrap, why.wrap, h('button', { type: 'submit', text: t('tenant.do_adjust') }));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const minor = L.decimalToMinor(amt.input.value, cur);
      if (minor === null || minor === 0) { announce(t('err.amount'), 'error'); return; }
      if (!why.input.value.trim()) { announce(t('err.reason'), 'error'); return; }
      const ok = await confirmDialog(t('tenant.confirm_adjust', { amount: L.money(minor, cur), name: ten.name }),
        [`${t('tenant.reason')}: ${why.input.value}`], t('tenant.confirm'), t('tenant.cancel'));
      if (!ok) return;
      try {
        const entry = await api('POST', `/v1/tenants/${ten.id}/adjustments`, { amount_minor: minor, reason: why.input.value.trim() }, { idem: newKey() });
        if (entry && entry.balance_after_minor !== undefined) { acct.balance_minor = entry.balance_after_minor; showAcct(acct); }
        amt.input.value = ''; why.input.value = '';
        announce(t('tenant.done_adjust', { amount: L.money(minor, cur) }), 'ok');
      } catch (err) { fail(err); }
    });
    box.append(form);
  }
  return box;
}

// --- the control room
let audio = null;
function beep() {
  try {
    audio = audio || new AudioContext();
    const o = audio.createOscillator(), g = audio.createGain();
    o.frequency.value = 880; g.gain.value = 0.2;
    o.connect(g).connect(audio.destination);
    o.start(); o.stop(audio.currentTime + 0.35);
    document.body.dataset.beeps = String(Number(document.body.dataset.beeps || 0) + 1);
  } catch { /* no audio device */ }
}
async function controlPage(view, params) {
  view.append(h('h2', { text: t('nav.control') }));
  const kinds = ['overload', 'suspected_malicious_load', 'over_voltage', 'under_voltage', 'low_power_factor', 'high_harmonics', 'comm_lost', 'energy_regressed', 'relay_mismatch'];
  const kind = select(t('alarm.kind'), [['', t('alarm.all')], ...kinds.map((k) => [k, t(`alarmkind.${k}`)])], { id: 'alarm-kind' });
  const sev = select(t('alarm.severity'), [['', t('alarm.all')], ...['critical', 'major', 'minor'].map((s) => [s, t(`sev.${s}`)])], { id: 'alarm-severity' });
  kind.input.value = params.get('kind') || '';
  sev.input.value = params.get('severity') || '';
  const sound = h('input', { type: 'checkbox', id: 'alarm-sound', checked: localStorage.getItem('wattle.sound') !== 'off' });
  sound.addEventListener('change', () => { localStorage.setItem('wattle.sound', sound.checked ? 'on' : 'off'); if (sound.checked) beep(); });
  const refilter = () => {
    const p = new URLSearchParams();
    if (kind.input.value) p.set('kind', kind.input.value);
    if (sev.input.value) p.set('severity', sev.input.value);
    location.hash = `#/control?${p}`;
  };
  kind.input.addEventListener('change', refilter);
  sev.input.addEventListener('change', refilter);
  view.append(h('div', { class: 'row' }, kind.wrap, sev.wrap,
    h('div', { class: 'field' }, h('span', {}, sound, ' ', h('label', { for: 'alarm-sound', text: t('alarm.sound') })))));
  const q = new URLSearchParams({ state: 'open', limit: '500' });
  if (S.site) q.set('site_id', S.site.id);
  if (kind.input.value) q.set('kind', kind.input.value);
  const list = (await api('GET', `/v1/alarms?${q}`)).items.filter((a) => !sev.input.value || a.severity === sev.input.value);
  const known = new Map(list.map((a) => [a.id, a]));
  const box = h('div', { id: 'alarms' });
  view.append(box);
  const draw = (flash) => {
    const rows = [...known.values()].filter((a) => a.state === 'open').sort((a, b) => (a.severity === 'critical' ? 0 : 1) - (b.severity === 'critical' ? 0 : 1) || (b.id > a.id ? 1 : -1));
    box.replaceChildren(rows.length ? table(t('nav.control'), [
      { label: t('alarm.severity'), get: (a) => h('span', { class: `sev-${a.severity}`, text: t(`sev.${a.severity}`) }) },
      { label: t('alarm.kind'), get: (a) => t(`alarmkind.${a.kind}`) },
      { label: t('alarm.meter'), get: (a) => a.serial || a.meter_id },
      { label: t('alarm.tenant'), get: (a) => (a.tenant_id ? h('a', { href: `#/tenants/${a.tenant_id}`, text: a.tenant_id }) : '—') },
      { label: t('alarm.opened'), get: (a) => L.time(a.opened_at) },
      { label: t('alarm.ack'), get: (a) => ackForm(a) },
    ], rows, (a) => ({ 'data-alarm': a.id, class: a.id === flash ? 'flash' : null })) : h('p', { class: 'muted', id: 'no-alarms', text: t('none') }));
  };
  const ackForm = (a) => {
    const note = h('input', { type: 'text', id: `note-${a.id}`, 'aria-label': t('alarm.note', { id: a.id }), required: true });
    const f = h('form', { class: 'row ack' }, note, h('button', { type: 'submit', text: t('alarm.ack') }));
    f.addEventListener('submit', async (e) => {
      e.preventDefault();
      if (!note.value.trim()) { announce(t('err.reason'), 'error'); note.focus(); return; }
      try {
        await api('POST', `/v1/alarms/${a.id}/ack`, { note: note.value.trim() });
        a.state = 'acked';
        draw();
        announce(t('alarm.acked', { id: a.id }), 'ok');
      } catch (err) { fail(err); }
    });
    return f;
  };
  draw();
  on('alarm', (ev) => {
    if (S.site && ev.site_id && ev.site_id !== S.site.id) return;
    if ((kind.input.value && ev.kind !== kind.input.value) || (sev.input.value && ev.severity !== sev.input.value)) return;
    const fresh = !known.has(ev.id) && ev.state === 'open';
    const prev = known.get(ev.id) || {};
    known.set(ev.id, { ...prev, ...ev, serial: prev.serial || ev.serial, opened_at: prev.opened_at || ev.opened_at || new Date().toISOString() });
    draw(fresh ? ev.id : null);
    if (fresh) { // the event names the meter by id: the list has its serial and times
      api('GET', `/v1/alarms?state=open&limit=500${S.site ? `&site_id=${S.site.id}` : ''}`).then((l) => {
        for (const a of l.items) if (known.has(a.id)) Object.assign(known.get(a.id), a);
        draw(ev.id);
      }).catch(() => {});
    }
    if (fresh && ev.severity === 'critical') {
      announce(t('alarm.new_critical', { kind: t(`alarmkind.${ev.kind}`), meter: ev.serial || ev.meter_id }), 'error');
      if (sound.checked) beep();
    }
  });
}

// --- finance
async function financePage(view) {
  view.append(h('h2', { text: t('nav.finance') }));
  const kind = select(t('fin.kind'), ['finance_summary', 'energy', 'tenant_statement'].map((k) => [k, t(`fin.${k}`)]), { id: 'report-kind' });
  const per = field(t('fin.period'), { type: 'month', id: 'report-period', value: L.today().slice(0, 7) });
  const out = h('div', { id: 'report-out' });
  const form = h('form', { class: 'row', 'aria-labelledby': 'rep-h' }, kind.wrap, per.wrap, h('button', { type: 'submit', class: 'primary', text: t('fin.make') }));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      const r = await api('POST', '/v1/reports', { kind: kind.input.value, period: per.input.value, site_id: S.site.id });
      const body = r.data || r;
      const totals = Object.entries(body).filter(([k, v]) => /_minor$/.test(k) && typeof v === 'number');
      out.replaceChildren(
        h('dl', { class: 'card' }, totals.flatMap(([k, v]) => [h('dt', { text: k }), h('dd', { text: L.money(v, currency()) })])),
        h('p', {}, h('a', { href: `/v1/reports/${r.id}?format=html`, target: '_blank', rel: 'noopener', text: t('tenant.open') }), ' · ',
          h('a', { href: `/v1/reports/${r.id}?format=csv`, download: `${r.id}.csv`, text: t('tenant.csv') })));
    } catch (err) { fail(err); }
  });
  view.append(h('h3', { id: 'rep-h', text: t('fin.reports') }), form, out);
  const lists = [
    ['fin.refunds', '/v1/refunds', (x) => [x.id, x.payment_id, L.money(x.amount_minor, currency()), x.state]],
    ['fin.reconciliations', '/v1/reconciliations', (x) => [x.id, x.provider, x.date, x.state || x.status || '']],
  ];
  // payment conflicts: credit the tenant or reject, with a reason, confirmed
  const cbox = h('div', { id: 'conflicts' });
  view.append(h('h3', { text: t('fin.conflicts') }), cbox);
  const resolve = (c, action) => async () => {
    const reason = window.prompt(t('tenant.reason'));
    if (!reason || !reason.trim()) { announce(t('err.reason'), 'error'); return; }
    if (!(await confirmDialog(`${c.id}: ${action}`, [`${c.payment.provider} ${L.money(c.payment.amount_minor, c.payment.currency)}`, reason], t('tenant.confirm'), t('tenant.cancel')))) return;
    try { await api('POST', `/v1/payment-conflicts/${c.id}/resolve`, { action, reason: reason.trim() }, { idem: newKey() }); render(); } catch (e) { fail(e); }
  };
  api('GET', `/v1/payment-conflicts?limit=100${boundSite()}`).then((p) => cbox.replaceChildren(p.items.length ? table(t('fin.conflicts'), [
    { label: 'id', get: (c) => c.id }, { label: t('fin.provider'), get: (c) => c.payment.provider },
    { label: t('tenant.amount'), num: true, get: (c) => L.money(c.payment.amount_minor, c.payment.currency) },
    { label: t('tenant.reason'), get: (c) => c.reason }, { label: t('fin.status'), get: (c) => c.state },
    { label: '', get: (c) => (c.state === 'open' ? h('span', { class: 'row' },
      h('button', { type: 'button', text: 'credit', 'aria-label': `credit ${c.id}`, onclick: resolve(c, 'credit') }),
      h('button', { type: 'button', text: 'reject', 'aria-label': `reject ${c.id}`, onclick: resolve(c, 'reject') })) : '') },
  ], p.items) : h('p', { class: 'muted', text: t('none') }))).catch((e) => cbox.replaceChildren(h('p', { class: 'muted', text: errorText(e) })));
  for (const [title, path, cells] of lists) {
    const box = h('div', {});
    view.append(h('h3', { text: t(title) }), box);
    api('GET', `${path}?limit=50`).then((p) => box.replaceChildren(p.items.length
      ? table(t(title), [0, 1, 2, 3].map((i) => ({ label: ['id', t('fin.provider'), t('tenant.amount'), t('fin.status')][i], get: (x) => cells(x)[i] })), p.items)
      : h('p', { class: 'muted', text: t('none') }))).catch((e) => box.replaceChildren(h('p', { class: 'muted', text: errorText(e) })));
  }
}

// --- shared costs
async function poolsPage(view) {
  view.append(h('h2', { text: t('pools.title') }));
  const pools = (await api('GET', `/v1/cost-pools?limit=200${S.site ? `&site_id=${S.site.id}` : ''}`)).items;
  if (!pools.length) view.append(h('p', { class: 'muted', text: t('none') }));
  for (const p of pools) {
    const per = field(t('fin.period'), { type: 'month', value: L.today().slice(0, 7), id: `period-${p.id}` });
    const out = h('div', {});
    const run = async (commit) => {
      const r = await api('POST', `/v1/cost-pools/${p.id}/runs`, { period: per.input.value, commit }, commit ? { idem: newKey() } : {});
      out.replaceChildren(h('p', { text: `${t('pools.total')}: ${L.money(r.total_minor, currency())} · ${L.energy(r.total_wh)}` }),
        table(p.name, [{ label: t('alarm.tenant'), get: (l) => l.tenant_id }, { label: t('pools.basis'), get: (l) => l.basis },
          { label: t('pools.share'), num: true, get: (l) => L.money(l.amount_minor, currency()) }], r.lines || []));
      return r;
    };
    const preview = h('button', { type: 'button', text: t('pools.preview'), onclick: () => run(false).catch(fail) });
    const commit = h('button', { type: 'button', class: 'primary', text: t('pools.commit'), onclick: async () => {
      try {
        const r = await run(false);
        if (await confirmDialog(t('pools.confirm_commit', { name: p.name, period: per.input.value, amount: L.money(r.total_minor, currency()), n: (r.lines || []).length }), [], t('tenant.confirm'), t('tenant.cancel'))) await run(true);
      } catch (e) { fail(e); }
    } });
    const runs = h('div', {});
    api('GET', `/v1/cost-pools/${p.id}/runs?limit=12`).then((rs) => runs.replaceChildren(...rs.items.map((r) => h('div', { class: 'row' },
      h('span', { text: `${r.period} · ${L.money(r.total_minor, currency())} · ${r.state || ''}` }),
      r.state === 'committed' ? h('button', { type: 'button', text: t('pools.reverse'), onclick: async () => {
        const reason = window.prompt(t('tenant.reason'));
        if (!reason) return;
        if (await confirmDialog(`${t('pools.reverse')} ${r.id}`, [reason], t('tenant.confirm'), t('tenant.cancel'))) {
          await api('POST', `/v1/allocation-runs/${r.id}/reverse`, { reason }, { idem: newKey() }).then(() => render()).catch(fail);
        }
      } }) : '')))).catch(() => {});
    view.append(h('section', { class: 'card' }, h('h3', { text: `${p.name} (${p.method})` }), h('div', { class: 'row' }, per.wrap, preview, commit), out, runs));
  }
}

// --- meters and gateways
async function metersPage(view) {
  view.append(h('h2', { text: t('nav.meters') }));
  const site = S.site ? `&site_id=${S.site.id}` : '';
  const [m, g, cmds] = await Promise.all([api('GET', `/v1/meters?limit=200${site}`), api('GET', `/v1/gateways?limit=200${site}`).catch(() => ({ items: [] })),
    api('GET', '/v1/commands?limit=50&state=failed').catch(() => ({ items: [] }))]);
  view.append(h('h3', { text: t('meter.gateway') }), table(t('meter.gateway'), [
    { label: 'id', get: (x) => x.id }, { label: t('tenants.name'), get: (x) => x.name },
    { label: t('meter.last_seen'), get: (x) => L.time(x.last_seen_at) }, { label: 'delivery', get: (x) => x.delivery }], g.items));
  view.append(h('h3', { text: t('tenant.meters') }), table(t('tenant.meters'), [
    { label: t('meter.serial'), get: (x) => x.serial }, { label: t('meter.purpose'), get: (x) => x.purpose },
    { label: t('alarm.tenant'), get: (x) => (x.tenant_id ? h('a', { href: `#/tenants/${x.tenant_id}`, text: x.tenant_id }) : '—') },
    { label: t('meter.gateway'), get: (x) => x.gateway_id || x.gateway || '—' }], m.items));
  view.append(h('h3', { text: `${t('meter.commands')} · ${t('cmd.failed')}` }), cmds.items.length ? table(t('meter.commands'), [
    { label: t('meter.serial'), get: (x) => x.serial }, { label: t('tenant.kind'), get: (x) => t(`cmd.${x.action}`) },
    { label: t('fin.status'), get: (x) => t(`cmd.${x.state}`) }, { label: t('tenant.reason'), get: (x) => x.reason }], cmds.items) : h('p', { class: 'muted', text: t('none') }));
}

// --- administration
// A small create form: fields [[name, label, attrs]], posted as JSON to path; then redraw.
function createForm(id, title, path, fields, done) {
  const inputs = fields.map(([name, label, attrs = {}]) => {
    const f = attrs.options ? select(label, attrs.options, { id: `${id}-${name}` }) : field(label, { id: `${id}-${name}`, autocomplete: 'off', ...attrs });
    return [name, f];
  });
  const form = h('form', { class: 'row card', id, 'aria-label': title }, inputs.map(([, f]) => f.wrap), h('button', { type: 'submit', class: 'primary', text: title }));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const body = {};
    for (const [name, f] of inputs) if (f.input.value.trim()) body[name] = f.input.value.trim();
    try { const r = await api('POST', path, body); if (done) done(r); else render(); } catch (err) { fail(err); }
  });
  return form;
}

// A rate typed as a decimal per kWh ("0.85") as micro-units, or null: exact, no floating point.
function rateMicros(text) {
  const m = /^\s*(\d{1,6})(?:[.,](\d{0,6}))?\s*$/.exec(text || '');
  if (!m) return null;
  return Number(m[1]) * 1e6 + Number((m[2] || '').padEnd(6, '0'));
}

// Submit handler of an edit form: confirm lines, then send; announce and redraw.
function editSubmit(form, title, build, send) {
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const b = build();
    if (!b) return;
    if (!(await confirmDialog(title, b.lines, t('tenant.confirm'), t('tenant.cancel')))) return;
    try { await send(b.body); } catch (err) { fail(err); return; }
    await render(); // the page redrawn from the server's rows, then the news
    announce(t('admin.saved'), 'ok');
  });
  return form;
}

// The top-up amounts the tenant page offers for the current site.
function amountsForm(site) {
  const cur = site.currency;
  const f = field(t('admin.amounts_edit', { cur }), { id: 'site-amounts', autocomplete: 'off',
    value: (site.topup_amounts_minor || []).map((v) => L.minorToDecimal(v, cur)).join(', ') });
  const form = h('form', { class: 'row card', id: 'amounts-edit', 'aria-label': t('admin.amounts') }, f.wrap,
    h('button', { type: 'submit', class: 'primary', text: t('admin.save_amounts') }));
  return editSubmit(form, `${t('admin.amounts')}: ${site.name}`, () => {
    const v = f.input.value.split(/[,，\s]+/).filter(Boolean).map((x) => L.decimalToMinor(x, cur));
    if (!v.length || v.some((x) => x === null || x <= 0)) { announce(t('err.amount'), 'error'); f.input.focus(); return null; }
    return { body: { topup_amounts_minor: v }, lines: [v.map((x) => L.money(x, cur)).join(' / ')] };
  }, async (body) => { Object.assign(site, await api('PATCH', `/v1/sites/${site.id}`, body)); });
}

// A user changed: role, disabled or enabled, a new password.
function userEditForm(users, roles) {
  const who = select(t('admin.user'), users.map((u) => [u.id, `${u.username} (${u.role}${u.disabled ? ` · ${t('admin.disabled')}` : ''})`]), { id: 'edit-user' });
  const role = select(t('admin.role'), [['', t('admin.unchanged')], ...roles], { id: 'edit-user-role' });
  const dis = select(t('admin.access'), [['', t('admin.unchanged')], ['false', t('admin.enabled')], ['true', t('admin.disabled')]], { id: 'edit-user-disabled' });
  const pw = field(t('admin.new_password'), { id: 'edit-user-password', type: 'password', autocomplete: 'new-password', minlength: '10' });
  const form = h('form', { class: 'row card', id: 'user-edit', 'aria-label': t('admin.edit_user') }, who.wrap, role.wrap, dis.wrap, pw.wrap,
    h('button', { type: 'submit', class: 'primary', text: t('admin.edit_user') }));
  return editSubmit(form, t('admin.edit_user'), () => {
    const body = {}, lines = [who.input.selectedOptions[0].textContent];
    if (role.input.value) { body.role = role.input.value; lines.push(`${t('admin.role')}: ${role.input.value}`); }
    if (dis.input.value) { body.disabled = dis.input.value === 'true'; lines.push(t(body.disabled ? 'admin.disabled' : 'admin.enabled')); }
    if (pw.input.value) { body.password = pw.input.value; lines.push(t('admin.new_password')); }
    if (!Object.keys(body).length) { announce(t('admin.nothing'), 'error'); return null; }
    return { body, lines };
  }, (body) => api('PATCH', `/v1/users/${who.input.value}`, body));
}

// A site's credit policy for one rating (posting a rating again replaces it), filled from the
// current one when a rating is chosen.
function policyForm(site, policies) {
  const cur = site.currency;
  const rating = select(t('tenants.rating'), ['A', 'B', 'C', 'D'].map((r) => [r, r]), { id: 'policy-rating' });
  const warn = field(t('admin.warn_levels', { cur }), { id: 'policy-warn', autocomplete: 'off', placeholder: '100.00, 50.00' });
  const over = field(t('admin.overdraft', { cur }), { id: 'policy-overdraft', inputmode: 'decimal', autocomplete: 'off' });
  const grace = field(t('admin.grace'), { id: 'policy-grace', type: 'number', min: '0', max: '10080' });
  const fill = () => {
    const p = policies.find((x) => x.site_id === site.id && x.rating === rating.input.value);
    warn.input.value = p ? p.warn_levels_minor.map((v) => L.minorToDecimal(v, cur)).join(', ') : '';
    over.input.value = p ? L.minorToDecimal(p.overdraft_minor, cur) : '0';
    grace.input.value = p ? String(p.grace_minutes) : '60';
  };
  rating.input.addEventListener('change', fill);
  fill();
  const form = h('form', { class: 'row card', id: 'policy-edit', 'aria-label': t('admin.edit_policy') }, rating.wrap, warn.wrap, over.wrap, grace.wrap,
    h('button', { type: 'submit', class: 'primary', text: t('admin.edit_policy') }));
  return editSubmit(form, `${t('admin.edit_policy')}: ${site.name}`, () => {
    const levels = warn.input.value.split(/[,，\s]+/).filter(Boolean).map((x) => L.decimalToMinor(x, cur));
    const od = L.decimalToMinor(over.input.value || '0', cur);
    if (!levels.length || levels.some((x) => x === null) || od === null) { announce(t('err.amount'), 'error'); warn.input.focus(); return null; }
    const body = { site_id: site.id, rating: rating.input.value, warn_levels_minor: levels, overdraft_minor: od, grace_minutes: Number(grace.input.value || 0) };
    // a post replaces the policy: what this form does not show is kept as it is
    const p = policies.find((x) => x.site_id === site.id && x.rating === body.rating);
    if (p) { body.restore_min_minor = p.restore_min_minor; body.quiet_hours = p.quiet_hours; }
    return { body, lines: [`${t('tenants.rating')} ${body.rating}`, `${t('admin.warn_levels', { cur })}: ${levels.map((v) => L.money(v, cur)).join(' / ')}`,
      `${t('admin.overdraft', { cur })}: ${L.money(od, cur)}`, `${t('admin.grace')}: ${body.grace_minutes}`] };
  }, (body) => api('POST', '/v1/credit-policies', body));
}

// A new tariff, or a new version of one from a time: flat by its rate, time-of-use or tiered by
// their rules as the API takes them (JSON: bands and schedule, or tiers).
function tariffForm(site, tariffs) {
  const target = select(t('admin.tariff'), [['', t('admin.new_tariff')], ...tariffs.filter((x) => x.site_id === site.id).map((x) => [x.id, `${x.name} (${x.id})`])], { id: 'tariff-target' });
  const name = field(t('tenants.name'), { id: 'tariff-name', autocomplete: 'off' });
  const kind = select(t('admin.kind'), [['flat', 'flat'], ['tou', 'tou'], ['tiered', 'tiered']], { id: 'tariff-kind' });
  const rate = field(t('admin.rate', { cur: site.currency }), { id: 'tariff-rate', inputmode: 'decimal', autocomplete: 'off', placeholder: '0.85' });
  const rules = field(t('admin.rules'), { id: 'tariff-rules', rows: '3', spellcheck: 'false' }, 'textarea');
  const from = field(t('admin.effective_from'), { id: 'tariff-from', autocomplete: 'off', placeholder: '2027-01-01T00:00:00+08:00' });
  const show = () => { rate.wrap.hidden = kind.input.value !== 'flat'; rules.wrap.hidden = kind.input.value === 'flat'; name.wrap.hidden = !!target.input.value; };
  kind.input.addEventListener('change', show);
  target.input.addEventListener('change', show);
  show();
  const form = h('form', { class: 'row card', id: 'tariff-edit', 'aria-label': t('admin.edit_tariff') }, target.wrap, name.wrap, kind.wrap, rate.wrap, rules.wrap, from.wrap,
    h('button', { type: 'submit', class: 'primary', text: t('admin.edit_tariff') }));
  return editSubmit(form, t('admin.edit_tariff'), () => {
    const body = { kind: kind.input.value };
    if (kind.input.value === 'flat') {
      const r = rateMicros(rate.input.value);
      if (r === null) { announce(t('err.amount'), 'error'); rate.input.focus(); return null; }
      body.rate_micros_per_kwh = r;
    } else {
      try { Object.assign(body, JSON.parse(rules.input.value || '{}')); } catch { announce(t('admin.bad_json'), 'error'); rules.input.focus(); return null; }
      body.kind = kind.input.value;
    }
    if (from.input.value.trim()) body.effective_from = from.input.value.trim();
    if (!target.input.value) Object.assign(body, { site_id: site.id, name: name.input.value.trim(), currency: site.currency });
    const lines = [target.input.value ? target.input.selectedOptions[0].textContent : `${t('admin.new_tariff')}: ${body.name}`, `${body.kind}${body.rate_micros_per_kwh !== undefined ? ` ${rate.input.value} ${site.currency}/kWh` : ''}`];
    if (body.effective_from) lines.push(`${t('admin.effective_from')}: ${body.effective_from}`);
    return { body, lines };
  }, (body) => (target.input.value ? api('POST', `/v1/tariffs/${target.input.value}/versions`, body) : api('POST', '/v1/tariffs', body)));
}

// One message template of the site edited: PUT sends the site's whole set (its own rows, this
// one replaced), since PUT replaces the set.
function templateForm(site, rows) {
  const key = (x) => `${x.event}|${x.language}`;
  const which = select(t('admin.template'), rows.map((x) => [key(x), `${x.event} · ${x.language}${x.default ? ` (${t('admin.shipped')})` : ''}`]), { id: 'template-which' });
  const text = field(t('admin.template_text'), { id: 'template-text', rows: '3' }, 'textarea');
  const sms = field(t('admin.sms_template'), { id: 'template-sms', autocomplete: 'off', placeholder: 'SMS_123456789' });
  const fill = () => {
    const x = rows.find((r) => key(r) === which.input.value);
    text.input.value = x ? x.text || '' : '';
    sms.input.value = x && x.sms_template ? x.sms_template : '';
  };
  which.input.addEventListener('change', fill);
  fill();
  const form = h('form', { class: 'row card', id: 'template-edit', 'aria-label': t('admin.edit_template') }, which.wrap, text.wrap, sms.wrap,
    h('button', { type: 'submit', class: 'primary', text: t('admin.edit_template') }));
  return editSubmit(form, t('admin.edit_template'), () => {
    const [event, language] = which.input.value.split('|');
    const own = rows.filter((r) => !r.default && key(r) !== which.input.value).map((r) => {
      const o = { event: r.event, language: r.language };
      for (const k of ['sms_template', 'sms_params', 'wechat_template', 'wechat_fields', 'text']) if (r[k] !== null && r[k] !== undefined) o[k] = r[k];
      return o;
    });
    const old = rows.find((r) => key(r) === which.input.value) || {};
    const edited = { event, language, text: text.input.value };
    for (const k of ['sms_params', 'wechat_template', 'wechat_fields']) if (old[k] !== null && old[k] !== undefined) edited[k] = old[k];
    if (sms.input.value.trim()) edited.sms_template = sms.input.value.trim();
    else delete edited.sms_params; // parameters belong to a provider template
    return { body: { templates: [...own, edited] }, lines: [`${event} · ${language}`, text.input.value] };
  }, (body) => api('PUT', `/v1/sites/${site.id}/message-templates`, body));
}

async function adminPage(view) {
  view.append(h('h2', { text: t('nav.admin') }));
  const roles = ['finance', 'operator', 'tenant', 'admin'].map((r) => [r, r]);
  const get = (path) => api('GET', path).catch((e) => ({ error: e }));
  const [sites, users, policies, tariffs, templates] = await Promise.all([get('/v1/sites?limit=200'), role() === 'admin' ? get('/v1/users?limit=200') : null,
    get('/v1/credit-policies?limit=200'), get('/v1/tariffs?limit=200'), S.site ? get(`/v1/sites/${S.site.id}/message-templates`) : null]);
  const section = (title, r, cols, form) => {
    if (!r) return;
    view.append(h('h3', { text: t(title) }));
    if (r.error) { view.append(h('p', { class: 'muted', text: errorText(r.error) })); return; }
    const items = r.items || r.templates || [];
    if (form) view.append(form(items));
    view.append(table(t(title), cols.map(([label, getv]) => ({ label, get: getv })), items));
  };
  if (role() === 'admin') {
    const shown = h('p', { id: 'new-key', 'aria-live': 'polite' });
    view.append(
      createForm('new-user', `${t('admin.users')} +`, '/v1/users', [['username', t('signin.username')], ['password', t('signin.password'), { type: 'password', autocomplete: 'new-password', minlength: '10' }],
        ['role', t('admin.role'), { options: roles }], ['tenant_id', t('alarm.tenant')]]),
      createForm('new-key-form', `${t('admin.keys')} +`, '/v1/api-keys', [['name', t('tenants.name')], ['role', t('admin.role'), { options: [...roles, ['gateway', 'gateway']] }], ['tenant_id', t('alarm.tenant')]],
        (r) => { shown.textContent = `${r.id}: ${r.key}`; announce(`${t('admin.keys')}: ${r.id}`, 'ok'); }), shown,
      createForm('new-site', `${t('admin.sites')} +`, '/v1/sites', [['name', t('tenants.name')], ['timezone', t('admin.timezone'), { value: 'Asia/Shanghai' }], ['currency', t('admin.currency'), { value: 'CNY' }]]));
  }
  if (role() === 'admin' && S.site) view.append(amountsForm(S.site));
  section('admin.sites', sites, [['id', (x) => x.id], [t('tenants.name'), (x) => x.name], [t('admin.timezone'), (x) => x.timezone], [t('admin.currency'), (x) => x.currency],
    [t('admin.amounts'), (x) => (x.topup_amounts_minor || []).map((v) => L.money(v, x.currency)).join(' / ')]]);
  section('admin.users', users, [['id', (x) => x.id], [t('signin.username'), (x) => x.username], [t('admin.role'), (x) => x.role], [t('alarm.tenant'), (x) => x.tenant_id || '—'],
    [t('admin.access'), (x) => t(x.disabled ? 'admin.disabled' : 'admin.enabled')]], (items) => userEditForm(items, roles));
  const site = S.site;
  section('admin.policies', policies, [['id', (x) => x.id], [t('tenants.rating'), (x) => x.rating],
    ['warn', (x) => (x.warn_levels_minor || []).map((v) => L.money(v, currency())).join(' / ')], ['grace', (x) => `${x.grace_minutes} min`]],
  site && policies && !policies.error ? (items) => policyForm(site, items) : null);
  section('admin.tariffs', tariffs, [['id', (x) => x.id], [t('tenants.name'), (x) => x.name], [t('admin.kind'), (x) => x.kind]],
    site ? (items) => tariffForm(site, items) : null);
  section('admin.templates', templates, [['event', (x) => x.event], [t('language'), (x) => x.language], ['text', (x) => x.text || x.sms_template || '']],
    site ? (items) => templateForm(site, items) : null);
}

// --- the router
let renderGen = 0;
async function render() {
  const gen = ++renderGen;
  for (const off of pageSubs) off();
  pageSubs = [];
  frame();
  const view = clear(document.getElementById('view'));
  if (!S.session) { signInPage(view); return; }
  const [path, query] = (location.hash.slice(1) || '/dashboard').split('?');
  const params = new URLSearchParams(query || '');
  const parts = path.split('/').filter(Boolean);
  announce('');
  document.body.dataset.page = '';
  view.append(h('p', { class: 'muted', id: 'loading', text: t('loading') }));
  try {
    const page = parts[0] || 'dashboard';
    const holder = h('div', {});
    if (page === 'tenants' && parts[1]) await tenantPage(holder, parts[1]);
    else if (page === 'tenants') await tenantsPage(holder, params);
    else if (page === 'control') await controlPage(holder, params);
    else if (page === 'finance') await financePage(holder);
    else if (page === 'pools') await poolsPage(holder);
    else if (page === 'meters') await metersPage(holder);
    else if (page === 'admin') await adminPage(holder);
    else await dashboardPage(holder);
    if (gen !== renderGen) return; // another page was asked for meanwhile
    view.replaceChildren(holder);
    document.body.dataset.page = page;
  } catch (e) {
    view.replaceChildren(h('p', { class: 'status error', id: 'page-error', text: errorText(e) }));
    if (e instanceof ApiError && e.status === 401) { S.session = null; render(); }
  }
}

window.addEventListener('hashchange', () => { if (S.session) render(); });
(async () => {
  frame();
  try { S.session = await currentSession(); } catch { S.session = null; }
  if (S.session) await afterSignIn(); else render();
})();
