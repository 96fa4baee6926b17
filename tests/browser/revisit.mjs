// revisit.mjs: the console left and opened again, eight times in one tab: each visit draws the
// dashboard and its chart and goes live. The page closes its stream when it is left; before,
// each left page (kept in the back-forward cache) held its stream, the browser's six
// connections to the host ran out, and the chart's script never loaded. (The server counts a
// closed stream until its next heartbeat finds it gone, so its gauge is not the measure.)
import { run, open, signIn, BASE } from './lib.mjs';

const E = process.env;
const streams = async () => {
  const m = await (await fetch(`${BASE}/metrics`)).text();
  return Number((/^wattle_sse_clients (\d+)/m.exec(m) || [])[1]);
};

await run('revisit', async (browser) => {
  const ctx = await browser.createBrowserContext();
  const page = await open(ctx);
  await page.goto(`${BASE}/console/`);
  await signIn(page, E.FIN_USER, E.FIN_PASS);
  await page.waitForSelector('#d-chart canvas');
  for (let i = 0; i < 8; i++) {
    await page.goto('about:blank');
    await page.goto(`${BASE}/console/#/dashboard`);
    await page.waitForSelector('#d-chart canvas', { timeout: 10000 }).catch(async () => {
      throw new Error(`visit ${i + 2}: the chart was not drawn; ${await streams()} streams open on the server`);
    });
  }
  await page.waitForFunction(() => document.getElementById('live').textContent === 'Live', { timeout: 10000, polling: 100 });
});
