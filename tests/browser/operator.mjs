// operator.mjs: the control room: sign in as an operator, open the alarms, and once the page is
// open the C side posts readings that overload a meter: the alarm appears without a reload,
// highlighted, with a beep; acknowledged with a note it leaves the list. axe-core and
// screenshots on the control room and the meters page.
import { run, open, axe, shot, expect, waitText, need, signIn, BASE } from './lib.mjs';

const E = process.env;
await run('operator', async (browser) => {
  const ctx = await browser.createBrowserContext();
  const page = await open(ctx);
  await page.goto(`${BASE}/console/`);
  await signIn(page, E.OPS_USER, E.OPS_PASS);
  await page.waitForSelector('#alarms');
  await page.waitForSelector('#no-alarms');
  await page.waitForFunction(() => document.getElementById('live').textContent === 'Live', { timeout: 10000, polling: 100 });
  await axe(page, 'console-control');
  await page.evaluate(() => { window.__notReloaded = true; });
  const answer = await need('alarm');
  expect(answer === 'posted', `the readings were posted (${answer})`);
  await page.waitForSelector('#alarms tr[data-alarm]', { timeout: 10000, polling: 100 });
  const row = await page.$eval('#alarms tr[data-alarm]', (r) => ({ cls: r.className, text: r.textContent }));
  expect(row.cls.includes('flash'), 'the new critical alarm is highlighted');
  expect(row.text.includes('Overload') && row.text.includes('Critical'), `the row says what it is: ${row.text}`);
  expect(await page.evaluate(() => window.__notReloaded === true), 'it came without a reload');
  await waitText(page, '#status', 'New critical alarm');
  const beeps = await page.evaluate(() => Number(document.body.dataset.beeps || 0));
  expect(beeps >= 1, `a beep on the new critical alarm (${beeps})`);
  await shot(page, 'console-control-alarm');
  // ack with a note, by keyboard
  await page.focus('#alarms tr[data-alarm] input');
  await page.keyboard.type('checked on site by console test');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#no-alarms', { timeout: 10000, polling: 100 });
  await waitText(page, '#status', 'acknowledged');
  await shot(page, 'console-control');
  await page.goto(`${BASE}/console/#/meters`);
  await page.waitForFunction(() => document.body.dataset.page === 'meters', { polling: 100 });
  await axe(page, 'console-meters');
  await shot(page, 'console-meters');
  await page.goto(`${BASE}/console/#/dashboard`);
  await page.waitForSelector('#d-alarms');
  await waitText(page, '#d-alarms', 'acknowledged 1');
});
