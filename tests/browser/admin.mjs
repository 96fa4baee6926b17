// admin.mjs: the administration page, worked by its forms: a user disabled, a credit policy
// changed (what the form does not show kept), a flat tariff made from a decimal rate, a message
// template's text edited; each after a confirmation. The C side checks what the database holds.
// axe-core and screenshots.
import { run, open, axe, shot, expect, norm, waitText, signIn, BASE } from './lib.mjs';

const E = process.env;

// Submit form, check the confirmation names want, confirm, and wait for "Saved." on the redrawn page.
async function save(page, form, want) {
  await page.$eval('#status', (el) => { el.textContent = ''; });
  await page.click(`${form} button[type=submit]`);
  await page.waitForSelector('dialog.confirm[open]');
  const ask = norm(await page.$eval('dialog.confirm', (d) => d.textContent));
  expect(ask.includes(want), `the confirmation says ${want}: ${ask}`);
  await page.click('dialog.confirm [data-act=ok]');
  await waitText(page, '#status', 'Saved.');
  await page.waitForFunction(() => document.body.dataset.page === 'admin', { polling: 100 });
}

async function setValue(page, sel, v) {
  await page.$eval(sel, (el) => { el.value = ''; });
  await page.type(sel, v);
}

await run('admin', async (browser) => {
  const ctx = await browser.createBrowserContext();
  const page = await open(ctx);
  await page.goto(`${BASE}/console/`);
  await signIn(page, E.ADMIN_USER, E.ADMIN_PASS);
  await page.waitForSelector('nav.main a[href="#/admin"]');
  await page.click('nav.main a[href="#/admin"]');
  await page.waitForSelector('#template-edit');
  await axe(page, 'console-admin');
  await shot(page, 'console-admin');

  // the site's suggested top-ups, as the tenant page will offer them
  const shown = await page.$eval('#site-amounts', (el) => el.value);
  expect(shown === '50.00, 100.00, 200.00, 500.00', `the default amounts shown (${shown})`);
  await setValue(page, '#site-amounts', '30, 88.80, 300');
  await save(page, '#amounts-edit', 'CNY 30.00 / CNY 88.80 / CNY 300.00');

  // a user disabled
  await page.select('#edit-user', E.CLERK_ID);
  await page.select('#edit-user-disabled', 'true');
  await save(page, '#user-edit', 'Disabled');
  await page.waitForSelector('#user-edit');
  const row = await page.$$eval('table tr', (rs) => rs.map((r) => r.textContent).find((x) => x.includes('clerk2')) || '');
  expect(row.includes('Disabled'), `the users table says clerk2 is disabled: ${row}`);

  // the credit policy of rating B: filled from the current one, then changed
  await page.select('#policy-rating', 'B');
  const before = await page.$eval('#policy-warn', (el) => el.value);
  expect(before === '300.00, 100.00', `the form shows B's levels (${before})`);
  await setValue(page, '#policy-warn', '80.00, 20.00');
  await setValue(page, '#policy-grace', '30');
  await save(page, '#policy-edit', 'CNY 80.00 / CNY 20.00');

  // a flat tariff from a decimal rate
  await page.waitForSelector('#tariff-edit');
  await setValue(page, '#tariff-name', 'Night flat');
  await setValue(page, '#tariff-rate', '0.6123');
  await save(page, '#tariff-edit', 'Night flat');

  // a template's text
  await page.waitForSelector('#template-edit');
  await page.select('#template-which', 'low_balance|en');
  await setValue(page, '#template-text', 'Hello {tenant_name}, {balance} left: top up soon.');
  await save(page, '#template-edit', 'low_balance · en');
  await page.waitForSelector('#template-edit');
  await page.select('#template-which', 'low_balance|en');
  const text = await page.$eval('#template-text', (el) => el.value);
  expect(text === 'Hello {tenant_name}, {balance} left: top up soon.', `the edited text reads back (${text})`);
  // a bad variable is refused with the server's reason and nothing is saved
  await setValue(page, '#template-text', 'Hello {nobody}');
  await page.click('#template-edit button[type=submit]');
  await page.waitForSelector('dialog.confirm[open]');
  await page.click('dialog.confirm [data-act=ok]');
  await page.waitForFunction(() => document.querySelector('#status').className.includes('error'), { polling: 100 });
  await shot(page, 'console-admin-saved');
});
