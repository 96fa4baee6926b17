// tenant.mjs: a tenant on the phone page, in Chinese: sign in with the phone and the SMS code
// (the C side reads it from the carrier's fake), the balance and state, this month, the
// top-up form, the receipt opened; another tenant's page is refused (403 or 404). axe-core and
// screenshots.
import { run, open, axe, shot, weigh, expect, norm, waitText, need, BASE } from './lib.mjs';

const E = process.env;
const money = (minor) => new Intl.NumberFormat('zh-CN', { style: 'currency', currency: 'CNY' })
  .format(`${Math.trunc(minor / 100)}.${String(Math.abs(minor % 100)).padStart(2, '0')}`);

await run('tenant', async (browser) => {
  const ctx = await browser.createBrowserContext();
  const page = await open(ctx, 'zh-CN');
  await page.setViewport({ width: 390, height: 844, isMobile: true });
  const bytes = await weigh(page, `${BASE}/t/`);
  console.log(`WEIGHT tenant-signin ${bytes}`);
  expect(bytes < 200 * 1024, `the tenant page under 200 KB (${bytes})`);
  await page.waitForSelector('#phone');
  expect(await page.evaluate(() => document.documentElement.lang) === 'zh-CN', 'the page is in Chinese');
  await axe(page, 'tenant-signin');
  await shot(page, 'tenant-signin');
  await page.type('#phone', E.PHONE);
  await page.click('#send-code');
  await page.waitForSelector('#code', { visible: true });
  const code = await need('code');
  expect(/^\d{6}$/.test(code), `a six-digit code (${code})`);
  await page.type('#code', code);
  await page.click('#verify');
  await page.waitForSelector('#balance');
  await waitText(page, '#balance', money(Number(E.BALANCE_MINOR)));
  await waitText(page, '#state', '正常');
  await page.waitForSelector('#month table');
  const offered = await page.$$eval('#topup .amounts button', (bs) => bs.map((b) => Number(b.dataset.amount)));
  expect(JSON.stringify(offered) === '[3000,8800]', `the mall's amounts offered, smallest first (${JSON.stringify(offered)})`);
  await page.waitForSelector('#receipts a.receipt-link', { timeout: 10000 });
  await axe(page, 'tenant-account');
  await shot(page, 'tenant-account');
  const href = await page.$eval('#receipts a.receipt-link', (a) => a.href);
  const doc = await open(ctx, 'zh-CN');
  const resp = await doc.goto(href);
  expect(resp.status() === 200, `the receipt opens (${resp.status()})`);
  const text = norm(await doc.evaluate(() => document.body.innerText));
  expect(text.includes('234.56'), 'the receipt shows the amount');
  await shot(doc, 'tenant-receipt');
  // this month's statement, listed and opened
  await page.bringToFront();
  await page.waitForSelector('#statements a.statement-link', { timeout: 10000 });
  const links = await page.$$eval('#statements a.statement-link', (as) => as.map((a) => [a.textContent, a.href]));
  expect(links.length === 1 && links[0][0].includes(E.PERIOD), `one statement of ${E.PERIOD} listed (${JSON.stringify(links)})`);
  const st = await doc.goto(links[0][1]);
  expect(st.status() === 200, `the statement opens (${st.status()})`);
  expect(norm(await doc.evaluate(() => document.body.innerText)).includes('234.56'), 'the statement shows the top-up');
  await shot(doc, 'tenant-statement');
  // another tenant's page
  await page.bringToFront();
  const status = await page.evaluate(async (id) => (await fetch(`/v1/tenants/${id}/account`)).status, E.OTHER_TENANT);
  expect(status === 403 || status === 404, `another tenant's account is 403 or 404 (${status})`);
  await page.goto(`${BASE}/t/#${E.OTHER_TENANT}`);
  await waitText(page, '#page-error', '此页面属于其他商户');
  expect(!(await page.$('#balance')), 'no balance of another tenant');
  await shot(page, 'tenant-other');
  // the language switch is remembered
  await page.goto(`${BASE}/t/#${E.TENANT_ID}`);
  await page.waitForSelector('#lang-switch');
  await page.select('#lang-switch', 'en');
  await page.waitForSelector('#balance');
  await page.reload();
  await page.waitForSelector('#balance');
  expect(await page.evaluate(() => document.documentElement.lang) === 'en', 'English after the switch and a reload');
  await waitText(page, '#bal-h', 'Your balance');
});
