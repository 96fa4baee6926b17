// lib.mjs: what the browser scenarios share: Debian's Chromium headless through puppeteer-core,
// the page's language, axe-core on a page (no serious or critical violation), screenshots, the
// bytes a page load transferred, and asking the C side of the test (test_console.c) for what
// only it can do ("NEED code" -> the SMS code; "NEED alarm" -> readings posted).
import puppeteer from 'puppeteer-core';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
export const BASE = process.env.BASE_URL;
const SHOTS = process.env.SHOTS || '/tmp';

export async function launch() {
  return puppeteer.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--autoplay-policy=no-user-gesture-required', '--disable-gpu', '--lang=en-US'],
  });
}

// A page whose language is lang (set before any script runs), its console errors collected,
// and its CSP honoured except for the test's own injected axe.
export async function open(ctx, lang = 'en') {
  const page = await ctx.newPage();
  await page.setViewport({ width: 1200, height: 900 });
  await page.evaluateOnNewDocument((l) => { try { if (!localStorage.getItem('wattle.lang')) localStorage.setItem('wattle.lang', l); } catch { /* about:blank */ } }, lang);
  page.errors = [];
  page.on('pageerror', (e) => page.errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') page.errors.push(m.text()); });
  page.on('dialog', (d) => d.accept(page.promptAnswer || 'console test reason'));
  return page;
}

// Run axe-core on the page: fail on a serious or critical violation.
export async function axe(page, name) {
  await page.evaluate(axeSource);
  const r = await page.evaluate(async () => window.axe.run(document, { resultTypes: ['violations'] }));
  const bad = r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  for (const v of bad) console.log(`AXE ${name}: ${v.impact} ${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).slice(0, 3).join('; ')})`);
  if (bad.length) throw new Error(`axe: ${bad.length} serious or critical violations on ${name}`);
  console.log(`axe ${name}: ${r.violations.length} minor or moderate, 0 serious or critical`);
}

export async function shot(page, name) {
  await page.bringToFront(); // a tab behind another draws nothing to capture
  await page.screenshot({ path: `${SHOTS}/${name}.png`, fullPage: true });
}

// The bytes (as transferred) of everything a navigation to url loads until the network is idle.
export async function weigh(page, url) {
  const cdp = await page.createCDPSession();
  await cdp.send('Network.enable');
  await cdp.send('Network.setCacheDisabled', { cacheDisabled: true });
  let bytes = 0;
  cdp.on('Network.loadingFinished', (e) => { bytes += e.encodedDataLength; });
  await page.goto(url, { waitUntil: 'networkidle0' });
  await cdp.send('Network.setCacheDisabled', { cacheDisabled: false });
  await cdp.detach();
  return bytes;
}

const rl = createInterface({ input: process.stdin });
const answers = [];
let waiting = null;
rl.on('line', (l) => { if (waiting) { const w = waiting; waiting = null; w(l); } else answers.push(l); });
export function need(what) {
  console.log(`NEED ${what}`);
  return new Promise((resolve) => { if (answers.length) resolve(answers.shift()); else waiting = resolve; });
}

export function expect(cond, what) {
  if (!cond) throw new Error(`expected: ${what}`);
}

export const norm = (s) => String(s).replace(/\s+/g, ' ').trim();

// The text of selector (whitespace folded) once it holds want (within ms).
export async function waitText(page, selector, want, ms = 10000) {
  try {
    await page.waitForFunction((sel, w) => {
      const el = document.querySelector(sel);
      return el && el.innerText.replace(/\s+/g, ' ').includes(w);
    }, { timeout: ms, polling: 100 }, selector, norm(want)); // by time: a tab behind another runs no animation frames
  } catch (e) {
    const have = await page.$eval(selector, (el) => el.innerText).catch(() => '(none)');
    throw new Error(`${selector} should hold "${norm(want)}"; it holds "${norm(have)}"`);
  }
  return page.$eval(selector, (el) => el.innerText.replace(/\s+/g, ' ').trim());
}

// Sign in on the staff console's form (the fields cleared first).
export async function signIn(page, user, pass) {
  await page.waitForSelector('#signin input[name=username]');
  await page.$eval('#signin input[name=username]', (el) => { el.value = ''; });
  await page.type('#signin input[name=username]', user);
  await page.$eval('#signin input[name=password]', (el) => { el.value = ''; });
  await page.type('#signin input[name=password]', pass);
  await page.click('#signin button[type=submit]');
}

export async function run(name, fn) {
  const browser = await launch();
  try {
    await fn(browser);
    console.log(`${name}: 1 passed, 0 failed`);
  } catch (e) {
    console.log(`${name}: FAILED: ${e.stack || e}`);
    process.exitCode = 1;
  } finally {
    await browser.close();
    rl.close();
  }
}
