// finance.mjs: a finance clerk's day: a wrong password is refused, a user locked after five
// wrong ones stays out, then: sign in, the dashboard, find a tenant by name, an unsafe request
// without the CSRF token is refused (403), top up 100.00 with a confirmation and see the
// balance change without a reload (in this tab from the reply, in a second tab live from the
// server's events), open the month's statement. axe-core and a screenshot on each page.
import { run, open, axe, shot, weigh, expect, norm, waitText, signIn, BASE } from './lib.mjs';

const E = process.env;
const money = (minor) => new Intl.NumberFormat('en', { style: 'currency', currency: 'CNY', currencyDisplay: 'code' })
  .format(`${Math.trunc(minor / 100)}.${String(Math.abs(minor % 100)).padStart(2, '0')}`);

await run('finance', async (browser) => {
  // the sign-in page: small, accessible
  const ctx0 = await browser.createBrowserContext();
  const p0 = await open(ctx0);
  const bytes = await weigh(p0, `${BASE}/console/`);
  console.log(`WEIGHT console-signin ${bytes}`);
  expect(bytes < 200 * 1024, `the sign-in page under 200 KB (${bytes})`);
  await p0.waitForSelector('#signin');
  await axe(p0, 'console-signin');
  await shot(p0, 'console-signin');
  // a wrong password
  await signIn(p0, E.FIN_USER, 'not the password at all');
  await waitText(p0, '#status', 'Wrong user name or password.');
  expect(!(await p0.$('#d-liability')), 'no dashboard after a wrong password');
  // five wrong in a row lock the user: the right password is refused for now
  for (let i = 0; i < 5; i++) {
    await signIn(p0, E.LOCK_USER, `wrong password ${i}`);
    await p0.waitForFunction(() => document.querySelector('#status').textContent !== '', { polling: 100 });
    await p0.$eval('#status', (el) => { el.textContent = ''; });
  }
  await signIn(p0, E.LOCK_USER, E.LOCK_PASS);
  await waitText(p0, '#status', 'locked');
  expect(!(await p0.$('#d-liability')), 'a locked user stays out');
  await ctx0.close();

  const ctx = await browser.createBrowserContext();
  const page = await open(ctx);
  await page.goto(`${BASE}/console/`);
  await signIn(page, E.FIN_USER, E.FIN_PASS);
  await page.waitForSelector('#d-liability');
  await page.waitForSelector('#d-chart canvas');
  await axe(page, 'console-dashboard');
  await shot(page, 'console-dashboard');

  // find the tenant by name
  await page.click('nav.main a[href="#/tenants"]');
  await page.waitForSelector('#tenant-search');
  await axe(page, 'console-tenants');
  await shot(page, 'console-tenants');
  await page.type('#tenant-search', E.TENANT_NAME.toLowerCase());
  await page.keyboard.press('Enter');
  await page.waitForFunction((name) => [...document.querySelectorAll('table a')].some((a) => a.textContent === name), { polling: 100 }, E.TENANT_NAME);
  const rows = await page.$$eval('tbody tr', (r) => r.length);
  expect(rows === 1, `one tenant found by name (${rows})`);
  await Promise.all([page.waitForSelector('#tenant-balance'),
    page.$$eval('table a', (as, name) => as.find((a) => a.textContent === name).click(), E.TENANT_NAME)]);
  await waitText(page, '#tenant-balance', money(0));
  await page.waitForSelector('#tenant-chart canvas');
  await axe(page, 'console-tenant');

  // a second tab on the same tenant, to see the change arrive live
  console.log('step: second tab');
  const other = await open(ctx);
  await other.goto(`${BASE}/console/#/tenants/${E.TENANT_ID}`);
  await waitText(other, '#tenant-balance', money(0));
  await other.waitForFunction(() => document.getElementById('live').textContent === 'Live', { timeout: 10000, polling: 100 });

  console.log('step: csrf');
  // the session's cookie alone does not move money: without X-CSRF-Token it is 403
  const csrf = await page.evaluate(async (id) => {
    const r = await fetch(`/v1/tenants/${id}/topups`, { method: 'POST', credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ amount_minor: 5000, channel: 'cash' }) });
    return r.status;
  }, E.TENANT_ID);
  expect(csrf === 403, `a top-up without the CSRF token is 403 (${csrf})`);

  // top up 100.00, confirmed (in the first tab, brought to the front for the keyboard and mouse)
  console.log('step: top-up');
  await page.bringToFront();
  await page.evaluate(() => { window.__notReloaded = true; });
  await page.type('#topup-amount', '100.00');
  await page.click('#topup-submit');
  await page.waitForSelector('dialog.confirm[open]');
  const ask = norm(await page.$eval('dialog.confirm', (d) => d.textContent));
  expect(ask.includes(norm(money(10000))) && ask.includes(E.TENANT_NAME), `the confirmation names the amount and tenant: ${ask}`);
  await shot(page, 'console-topup-confirm');
  await page.click('dialog.confirm [data-act=ok]');
  await waitText(page, '#tenant-balance', money(10000));
  expect(await page.evaluate(() => window.__notReloaded === true), 'the page was not reloaded');
  await waitText(page, '#status', 'Topped up');
  await waitText(other, '#tenant-balance', money(10000), 10000);
  await waitText(page, '#ledger', 'Top-up');
  await shot(page, 'console-tenant');

  // the statement of this month, opened
  console.log('step: statement');
  await page.click('#make-statement');
  await page.waitForSelector('#statements a.statement-link');
  const href = await page.$eval('#statements a.statement-link', (a) => a.href);
  const doc = await open(ctx);
  const resp = await doc.goto(href);
  expect(resp.status() === 200, `the statement opens (${resp.status()})`);
  const text = norm(await doc.evaluate(() => document.body.innerText));
  expect(text.includes(E.TENANT_NAME), 'the statement names the tenant');
  await shot(doc, 'console-statement');

  // the other pages of the clerk's day
  await page.bringToFront();
  for (const [hash, sel, name] of [['#/finance', '#report-kind', 'console-finance'], ['#/pools', 'main h2', 'console-pools']]) {
    await page.goto(`${BASE}/console/${hash}`);
    await page.waitForSelector(sel);
    await page.waitForFunction(() => !document.getElementById('loading'), { polling: 100 });
    await axe(page, name);
    await shot(page, name);
  }
  const errs = [...page.errors, ...other.errors].filter((e) => !/status of 40[34]|Failed to load resource/.test(e));
  expect(errs.length === 0, `no script errors: ${errs.join(' | ')}`);
});
