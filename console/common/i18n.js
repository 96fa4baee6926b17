// i18n.js: the page's language (remembered in localStorage, else the browser's, which is
// what Accept-Language says), its strings, and amounts, energy and times formatted for it.
// Money arrives as integer minor units and is turned into a decimal string without
// floating point; times are shown in the site's time zone.
import en from './i18n/en.js';
import zh from './i18n/zh-CN.js';

const dicts = { en, 'zh-CN': zh };
export const languages = [['zh-CN', '中文'], ['en', 'English']];
const KEY = 'wattle.lang';

function pick() {
  const saved = localStorage.getItem(KEY);
  if (saved && dicts[saved]) return saved;
  for (const l of navigator.languages || [navigator.language || 'en']) {
    if (/^zh\b/i.test(l)) return 'zh-CN';
    if (/^en\b/i.test(l)) return 'en';
  }
  return 'en';
}

let lang = pick();
let zone = undefined; // the site's IANA zone once known

export function getLang() { return lang; }
export function setLang(l) {
  if (!dicts[l]) return;
  lang = l;
  localStorage.setItem(KEY, l);
  document.documentElement.lang = l;
}
export function setZone(tz) { zone = tz || undefined; }
export function getZone() { return zone; }
document.documentElement.lang = lang;

// t('key', {n: 3}): the string in the page's language ({n} replaced), else English, else the key.
export function t(key, vars) {
  let s = dicts[lang][key] ?? en[key] ?? key;
  if (vars) s = s.replace(/\{(\w+)\}/g, (_, k) => (vars[k] ?? ''));
  return s;
}

const digitsCache = {};
function fractionDigits(currency) {
  if (!(currency in digitsCache)) {
    digitsCache[currency] = new Intl.NumberFormat('en', { style: 'currency', currency })
      .resolvedOptions().maximumFractionDigits;
  }
  return digitsCache[currency];
}

// Integer minor units as a decimal string ("123450" CNY -> "1234.50"), exactly.
export function minorToDecimal(minor, currency) {
  const d = fractionDigits(currency);
  let v = BigInt(minor);
  const neg = v < 0n;
  if (neg) v = -v;
  const s = v.toString().padStart(d + 1, '0');
  const whole = d ? s.slice(0, s.length - d) : s;
  const frac = d ? `.${s.slice(s.length - d)}` : '';
  return `${neg ? '-' : ''}${whole}${frac}`;
}

// A typed amount ("100", "100.5", "1,234.50") -> integer minor units, or null when it is not one.
export function decimalToMinor(text, currency) {
  const d = fractionDigits(currency);
  const s = String(text).trim().replace(/[,\s]/g, '');
  const m = /^(-?)(\d+)(?:\.(\d+))?$/.exec(s);
  if (!m || (m[3] && m[3].length > d)) return null;
  const v = BigInt(m[2] + (m[3] || '').padEnd(d, '0'));
  const r = m[1] ? -v : v;
  if (r > BigInt(Number.MAX_SAFE_INTEGER) || r < -BigInt(Number.MAX_SAFE_INTEGER)) return null;
  return Number(r);
}

// ¥1,234.50 in Chinese, CNY 1,234.50 in English.
export function money(minor, currency = 'CNY') {
  if (minor === null || minor === undefined) return '—';
  const f = new Intl.NumberFormat(lang, {
    style: 'currency', currency, currencyDisplay: lang === 'en' ? 'code' : 'symbol',
  });
  return f.format(minorToDecimal(minor, currency));
}

// Nano-units of the major unit (costs) -> minor units, rounded down (display only).
export function nanoToMinor(nano, currency = 'CNY') {
  const d = fractionDigits(currency);
  return Number(BigInt(nano) / 10n ** BigInt(9 - d));
}

export function energy(wh) {
  if (wh === null || wh === undefined) return '—';
  const kwh = minorToDecimal(wh, 'BHD'); // three decimals: Wh -> kWh exactly
  return `${new Intl.NumberFormat(lang, { maximumFractionDigits: 1, minimumFractionDigits: 1 }).format(kwh)} kWh`;
}

export function count(n) { return new Intl.NumberFormat(lang).format(n); }

export function time(iso) {
  if (!iso) return '—';
  return new Intl.DateTimeFormat(lang, { timeZone: zone, dateStyle: 'short', timeStyle: 'short' }).format(new Date(iso));
}

// The site-local calendar date of now (YYYY-MM-DD) and the first of its month.
export function today() {
  const p = new Intl.DateTimeFormat('en-CA', { timeZone: zone, year: 'numeric', month: '2-digit', day: '2-digit' })
    .format(new Date());
  return p;
}
export function monthStart() { return `${today().slice(0, 8)}01`; }
export function daysAgo(n) {
  const d = new Date(`${today()}T12:00:00Z`);
  d.setUTCDate(d.getUTCDate() - n);
  return d.toISOString().slice(0, 10);
}

// A language switch (a labelled select) that redraws through onChange.
export function languageSwitch(onChange) {
  const id = 'lang-switch';
  const sel = document.createElement('select');
  sel.id = id;
  for (const [v, name] of languages) {
    const o = document.createElement('option');
    o.value = v;
    o.textContent = name;
    o.lang = v;
    if (v === lang) o.selected = true;
    sel.append(o);
  }
  sel.addEventListener('change', () => { setLang(sel.value); onChange(); });
  const label = document.createElement('label');
  label.htmlFor = id;
  label.textContent = t('language');
  const wrap = document.createElement('span');
  wrap.className = 'lang';
  wrap.append(label, sel);
  return wrap;
}
