// app.js: the tenant's phone page (/t/, what the QR sticker on the meter cabinet opens):
// sign in with the phone and an SMS code, then the balance and state (live), this month's
// energy and cost by band, a top-up through a provider order (its QR code or pay page),
// receipts and statements, and why the power is cut or about to be, in plain words.
import { api, ApiError, currentSession, events, setCsrf } from '/console/common/api.js';
import { h, field, clear, announce } from '/console/common/dom.js';
import * as L from '/console/common/i18n.js';
import { dailyBars } from '/console/common/chart.js';

const { t } = L;
// Amounts offered first when the site cannot be read (its topup_amounts_minor are the mall's).
const SUGGESTED_MINOR = [5000, 10000, 20000, 50000];
let session = null, stop = null, alarmNote = null;

function errorText(e) {
  if (!(e instanceof ApiError)) return t('err.network');
  if (e.status === 403) return t('t.other_tenant');
  if (e.status === 404) return t('err.not_found');
  if (e.status === 401) return t('t.bad_code');
  if (e.status === 429 || /lock|too_many/.test(e.code)) return t('err.locked');
  return t('err.generic', { msg: e.message });
}

function frame() {
  const top = clear(document.getElementById('top'));
  document.title = t('app.tenant');
  top.append(h('h1', { text: t('app.tenant') }), h('span', { class: 'spacer' }));
  if (session) top.append(h('button', { type: 'button', id: 'signout', text: t('signin.out'), onclick: async () => {
    await api('DELETE', '/v1/sessions/current').catch(() => {}); setCsrf(null); session = null; if (stop) stop(); render();
  } }));
  top.append(L.languageSwitch(() => render()));
}

function signInPage(view) {
  const phone = field(t('t.phone'), { type: 'tel', id: 'phone', autocomplete: 'tel', inputmode: 'tel', required: true, placeholder: '+86…' });
  const code = field(t('t.code'), { id: 'code', autocomplete: 'one-time-code', inputmode: 'numeric', pattern: '[0-9]{6}', maxlength: '6' });
  code.wrap.hidden = true;
  const send = h('button', { type: 'submit', class: 'primary', id: 'send-code', text: t('t.send_code') });
  const verify = h('button', { type: 'button', class: 'primary', id: 'verify', hidden: true, text: t('t.verify') });
  const form = h('form', { class: 'signin', id: 'otp-form' }, h('h2', { text: t('signin.title') }), phone.wrap, send, code.wrap, verify);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (!code.wrap.hidden) { verify.click(); return; }
    try {
      await api('POST', '/v1/sessions/otp', { phone: phone.input.value.trim() });
      announce(t('t.code_sent', { phone: phone.input.value.trim() }), 'ok');
      code.wrap.hidden = false; verify.hidden = false; send.hidden = true;
      code.input.focus();
    } catch (err) { announce(errorText(err), 'error'); }
  });
  verify.addEventListener('click', async () => {
    try {
      session = await api('POST', '/v1/sessions/otp', { phone: phone.input.value.trim(), code: code.input.value.trim() });
      setCsrf(session.csrf_token);
      render();
    } catch (err) { announce(errorText(err), 'error'); code.input.value = ''; code.input.focus(); }
  });
  view.append(form);
  phone.input.focus();
}

function reason(acct) {
  if (acct.supply === 'pending_off' || acct.supply === 'pending_on') return t(`t.why_${acct.supply}`);
  if (acct.state === 'grace') return t('t.why_grace', { t: L.time(acct.grace_until) });
  return t(`t.why_${acct.state}`);
}

async function accountPage(view, id) {
  const acct = await api('GET', `/v1/tenants/${id}/account`);
  // the site's time zone: this month and today are the site's
  let suggested = SUGGESTED_MINOR;
  try {
    const ten = await api('GET', `/v1/tenants/${id}`);
    const site = await api('GET', `/v1/sites/${ten.site_id}`);
    L.setZone(site.timezone);
    if (site.topup_amounts_minor && site.topup_amounts_minor.length) suggested = site.topup_amounts_minor;
  } catch { /* the browser's zone, the default amounts */ }
  const cur = acct.currency;
  const bal = h('div', { class: 'balance-big', id: 'balance', 'aria-live': 'polite' });
  const st = h('p', { id: 'state' });
  const why = h('p', { id: 'reason' });
  const show = () => {
    bal.textContent = L.money(acct.balance_minor, cur);
    st.replaceChildren(h('span', { class: `badge state-${acct.state}`, text: t(`state.${acct.state}`) }), ' ', t(`supply.${acct.supply}`));
    why.textContent = reason(acct) + (alarmNote ? ` ${alarmNote}` : '');
  };
  show();
  view.append(h('section', { class: 'card', 'aria-labelledby': 'bal-h' }, h('h2', { id: 'bal-h', text: t('t.balance') }), bal, st, why));

  // this month by band, and by day in a chart
  const month = h('section', { class: 'card', id: 'month', 'aria-labelledby': 'month-h' }, h('h2', { id: 'month-h', text: t('t.month') }));
  const chart = h('div', { class: 'chart', id: 'month-chart' });
  view.append(month);
  api('GET', `/v1/tenants/${id}/consumption?from=${L.monthStart()}&to=${L.daysAgo(-1)}&granularity=day`).then((c) => {
    const bands = {};
    for (const it of c.items) for (const b of it.bands) {
      bands[b.band] = bands[b.band] || { wh: 0, nano: 0n };
      bands[b.band].wh += b.energy_wh;
      bands[b.band].nano += BigInt(b.cost_nano);
    }
    month.append(h('table', {}, h('caption', { class: 'sr-only', text: t('t.month') }),
      h('thead', {}, h('tr', {}, [t('t.band'), t('t.energy'), t('t.cost')].map((x, i) => h('th', { scope: 'col', class: i ? 'num' : null, text: x })))),
      h('tbody', {}, Object.entries(bands).map(([b, v]) => h('tr', {}, h('td', { text: b }), h('td', { class: 'num', text: L.energy(v.wh) }),
        h('td', { class: 'num', text: L.money(L.nanoToMinor(v.nano, cur), cur) })))),
      h('tfoot', {}, h('tr', {}, h('th', { scope: 'row', text: '∑' }), h('td', { class: 'num', text: L.energy(c.energy_wh) }),
        h('td', { class: 'num', text: L.money(L.nanoToMinor(c.cost_nano, cur), cur) })))), chart);
    const days = [];
    for (let d = L.monthStart(); d <= L.today(); d = nextDay(d)) days.push(d);
    const byDay = Object.fromEntries(c.items.map((x) => [x.period, x.energy_wh / 1000]));
    return dailyBars(chart, days, [{ label: t('t.energy'), values: days.map((d) => byDay[d] || 0), color: '#0b5cad' }], (v) => `${v} kWh`, t('t.month'));
  }).catch((e) => month.append(h('p', { class: 'muted', text: errorText(e) })));

  // top-up through a provider order
  const amounts = h('div', { class: 'amounts', role: 'group', 'aria-label': t('t.topup') });
  let chosen = null;
  const other = field(t('t.other_amount', { cur }), { id: 'other-amount', inputmode: 'decimal', autocomplete: 'off' });
  const provider = h('select', { id: 'provider' }, ['wechat', 'alipay', 'stripe'].map((p) => h('option', { value: p, text: t(`channel.${p}`) })));
  const payBox = h('div', { id: 'pay', class: 'qr', 'aria-live': 'polite' });
  for (const minor of suggested) {
    const b = h('button', { type: 'button', 'aria-pressed': 'false', 'data-amount': minor, text: L.money(minor, cur) });
    b.addEventListener('click', () => { chosen = minor; other.input.value = ''; for (const x of amounts.children) x.setAttribute('aria-pressed', String(x === b)); });
    amounts.append(b);
  }
  const pay = h('button', { type: 'submit', class: 'primary', id: 'pay-button', text: t('t.topup') });
  const form = h('form', { id: 'topup', 'aria-labelledby': 'topup-h' }, h('h2', { id: 'topup-h', text: t('t.topup') }), amounts, other.wrap,
    h('div', { class: 'field' }, h('label', { for: 'provider', text: t('t.pay_with') }), provider), pay, payBox);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const minor = other.input.value.trim() ? L.decimalToMinor(other.input.value, cur) : chosen;
    if (!minor || minor <= 0) { announce(t('err.amount'), 'error'); return; }
    try {
      const o = await api('POST', '/v1/topup-orders', { tenant_id: id, amount_minor: minor, provider: provider.value });
      payBox.replaceChildren(h('p', { text: t('t.scan') }));
      if (o.qr_svg) {
        const svg = new DOMParser().parseFromString(o.qr_svg, 'image/svg+xml').documentElement;
        if (svg && svg.nodeName.toLowerCase() === 'svg') { svg.setAttribute('role', 'img'); svg.setAttribute('aria-label', t('t.make_order', { amount: L.money(minor, cur) })); payBox.append(document.importNode(svg, true)); }
      }
      if (o.pay_url) payBox.append(h('p', {}, h('a', { href: o.pay_url, rel: 'noopener', id: 'pay-link', text: t('t.pay_page') })));
    } catch (err) { announce(errorText(err), 'error'); }
  });
  view.append(h('section', { class: 'card' }, form));

  // receipts and statements
  const docs = h('section', { class: 'card', 'aria-labelledby': 'docs-h' }, h('h2', { id: 'docs-h', text: `${t('t.receipts')} · ${t('t.statements')}` }));
  const recs = h('ul', { id: 'receipts' }), stmts = h('ul', { id: 'statements' });
  docs.append(h('h3', { text: t('t.receipts') }), recs, h('h3', { text: t('t.statements') }), stmts);
  view.append(docs);
  const loadDocs = () => {
    api('GET', `/v1/receipts?tenant_id=${id}&limit=20`).then((r) => recs.replaceChildren(...r.items.map((x) => h('li', {},
      h('a', { href: `/v1/receipts/${x.id}?format=html`, class: 'receipt-link', text: `${x.number || x.id} · ${L.money(x.amount_minor, cur)}` }), ' ',
      h('a', { href: `/v1/receipts/${x.id}?format=pdf`, text: 'PDF' }))))).catch(() => {});
    const none = () => h('li', { class: 'muted', text: t('none') });
    api('GET', `/v1/reports?tenant_id=${id}&kind=tenant_statement&limit=12`).then((r) => stmts.replaceChildren(...(r.items.length ? [] : [none()]), ...r.items.map((x) => h('li', {},
      h('a', { href: `/v1/reports/${x.id}?format=html`, class: 'statement-link', text: x.period }), ' ',
      h('a', { href: `/v1/reports/${x.id}?format=csv`, text: 'CSV' }))))).catch(() => stmts.replaceChildren(none()));
  };
  loadDocs();

  if (stop) stop();
  stop = events({
    account: (a) => { if (a.tenant_id === id) { Object.assign(acct, a); show(); } },
    payment: (p) => { if (p.tenant_id === id) loadDocs(); },
    alarm: (a) => { if (a.tenant_id === id) { alarmNote = a.state === 'open' ? t('t.alarm', { kind: t(`alarmkind.${a.kind}`) }) : null; show(); } },
  });
}

function nextDay(d) { const x = new Date(`${d}T12:00:00Z`); x.setUTCDate(x.getUTCDate() + 1); return x.toISOString().slice(0, 10); }

async function render() {
  frame();
  const view = clear(document.getElementById('view'));
  if (!session) { signInPage(view); return; }
  announce('');
  const id = location.hash.slice(1) || session.user.tenant_id;
  try {
    const holder = h('div', {});
    await accountPage(holder, id);
    view.replaceChildren(holder);
    document.body.dataset.page = 'tenant';
  } catch (e) { view.replaceChildren(h('p', { class: 'status error', id: 'page-error', text: errorText(e) })); }
}

window.addEventListener('hashchange', () => { if (session) render(); });
(async () => {
  frame();
  try { session = await currentSession(); } catch { session = null; }
  if (session && session.user.role !== 'tenant' && !location.hash) session = null; // staff: sign in as a tenant here
  render();
})();
