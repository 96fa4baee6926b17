// console_render.mjs: bench/console.sh's measurements in headless Chromium (puppeteer-core from
// tests/browser): page weight per page and time to first render of the dashboard and tenants.
import { createRequire } from 'node:module';
const require = createRequire(new URL('../tests/browser/package.json', import.meta.url));
const puppeteer = require('puppeteer-core');

const { BASE_URL: base, USER_NAME: user, USER_PASS: pass } = process.env;
const rounds = Number(process.env.ROUNDS || 5);
const browser = await puppeteer.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox'] });
const median = (v) => { const s = [...v].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
try {
  const page = await browser.newPage();
  await page.evaluateOnNewDocument(() => localStorage.setItem('wattle.lang', 'en'));
  page.on('pageerror', (e) => console.error(`page error: ${e}`));
  page.on('console', (m) => { if (m.type() === 'error') console.error(`console: ${m.text()}`); });
  const cdp = await page.createCDPSession();
  await cdp.send('Network.enable');
  let bytes = 0;
  cdp.on('Network.loadingFinished', (e) => { bytes += e.encodedDataLength; });
  const weigh = async (name, url, sel) => {
    await cdp.send('Network.setCacheDisabled', { cacheDisabled: true });
    bytes = 0;
    await page.goto('about:blank');
    await page.goto(url);
    await page.waitForSelector(sel, { timeout: 30000 });
    await new Promise((r) => setTimeout(r, 1500)); // what the page loads after it is drawn (the chart)
    console.log(`  page weight ${name.padEnd(10)} ${(bytes / 1024).toFixed(1).padStart(7)} KB transferred`);
    await cdp.send('Network.setCacheDisabled', { cacheDisabled: false });
  };
  await weigh('phone', `${base}/t/`, '#phone');
  await weigh('sign-in', `${base}/console/`, '#signin');
  await page.type('#signin input[name=username]', user);
  await page.type('#signin input[name=password]', pass);
  await page.click('#signin button[type=submit]');
  await page.waitForSelector('#d-liability');
  await weigh('dashboard', `${base}/console/#/dashboard`, '#d-chart canvas');
  await weigh('tenants', `${base}/console/#/tenants`, 'tbody tr');
  await weigh('tenant', `${base}/console/#/tenants/ten_1`, '#tenant-balance');
  await weigh('finance', `${base}/console/#/finance`, '#report-kind');
  // each round a new tab (the session's cookie is the browser's): navigation start to drawn
  const first = async (hash, sel) => {
    const v = [];
    for (let i = 0; i < rounds; i++) {
      const p = await browser.newPage();
      await p.bringToFront();
      await p.evaluateOnNewDocument(() => { try { localStorage.setItem('wattle.lang', 'en'); } catch { /* about:blank */ } });
      await p.goto(`${base}/console/${hash}`);
      await p.waitForSelector(sel, { timeout: 30000 }).catch(async () => {
        throw new Error(`${hash}: ${sel} not drawn; the page says: ${await p.evaluate(() => document.body.innerText.slice(-400) + ' | ' + performance.getEntriesByType('resource').map((e) => `${e.name} ${Math.round(e.duration)} ${e.responseStatus}`).join(' ; '))}`);
      });
      v.push(await p.evaluate(() => performance.now()));
      await p.close();
    }
    return median(v);
  };
  console.log(`  first render dashboard   ${(await first('#/dashboard', '#d-liability')).toFixed(0)} ms (its figures; the chart follows)`);
  console.log(`  dashboard chart drawn    ${(await first('#/dashboard', '#d-chart canvas')).toFixed(0)} ms (14 days of every meter's rollups)`);
  console.log(`  first render tenants     ${(await first('#/tenants', 'tbody tr')).toFixed(0)} ms (first page of 50)`);
  console.log(`  tenant search            ${(await first('#/tenants?q=Shop%204999', 'tbody tr')).toFixed(0)} ms (by name)`);
} finally {
  await browser.close();
}
