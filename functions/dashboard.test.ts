import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { REPO_ROOT, json, type Json } from '../test/http';
import {
  applicantPayload,
  joseRequest,
  newBank,
  sign,
  startTrustNet,
  testConsortium,
} from '../test/trustnet';

type Host = Awaited<ReturnType<typeof startTrustNet>>;

const CHROMIUM = '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) {
  // Only this: CI installs Debian's chromium (.ci/run), so a missing browser is a setup gap, not a pass.
  console.warn(
    `dashboard.test.ts SKIPPED: ${CHROMIUM} is missing. Install it with "apt-get install chromium" to run the dashboard in a real browser.`,
  );
}
const describeInBrowser = haveChromium ? describe : describe.skip;

// A whole onboarding runs while the browser watches: generous on a busy 2-core machine.
jest.setTimeout(90_000);

describeInBrowser('the live dashboard in headless Chromium', () => {
  let host: Host;
  let name: string;
  let browser: Browser;
  let page: Page;
  const problems: string[] = [];
  let navigations = 0;
  let requestId: string;
  const now = () => new Date(host.clock.now());

  beforeAll(async () => {
    const c = await testConsortium();
    name = c.config.name;
    [host, browser] = await Promise.all([
      startTrustNet(c),
      chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] }),
    ]);
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    // CSP refusals and script errors would otherwise pass silently while the page looks stale.
    page.on('console', (m) => {
      if (/Content Security Policy|Refused to/i.test(m.text())) problems.push(m.text());
    });
    page.on('pageerror', (e) => problems.push(e.message));
    page.on('framenavigated', (f) => {
      if (f === page.mainFrame()) navigations++;
    });
  });
  afterAll(async () => {
    await browser?.close();
    await host?.stop();
  });

  const row = (selector: string, options?: { hasText: string }) => page.locator(selector, options);

  it('serves one self-contained page under a self-only Content-Security-Policy', async () => {
    const res = await fetch(`${host.url}/api/dashboard`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html; charset=utf-8/);
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("connect-src 'self'");
    expect(csp).toMatch(/script-src 'sha256-[A-Za-z0-9+/=]+'/);
    expect(csp).not.toContain('unsafe-inline');
    const html = await res.text();
    // Nothing from elsewhere: no external scripts, styles or fonts.
    expect(html).not.toMatch(/(src|href)=["']?(https?:)?\/\//i);
    expect(html).toContain('<table id="members">');
  });

  it('shows the founders and an audit log that verifies in the browser', async () => {
    await page.goto(`${host.url}/api/dashboard?refresh=200`);
    // Browser-side code is passed as text: the project's TypeScript has no DOM types.
    await page.evaluate('window.loadedOnce = true');
    for (const id of ['bank-a', 'bank-b', 'bank-c'])
      await row(`#members-body tr[data-key="${id}"][data-status="ACTIVE"]`).waitFor();
    await expect(row('#members-body tr[data-key="bank-a"]').innerText()).resolves.toContain(
      'O=Founder A, L=London, C=GB',
    );
    // Cost and scaling are shown when this deployment answers for them, and "—" when it does not.
    const cost = await fetch(`${host.url}/api/members/bank-a/cost`);
    const costCell = row('#members-body tr[data-key="bank-a"] td:nth-child(6)');
    if (cost.status === 200) await expect(costCell.innerText()).resolves.toMatch(/so far, .+ projected$/);
    else await expect(costCell.innerText()).resolves.toBe('—');
    const scaling = (await json(await fetch(`${host.url}/api/members/bank-a`))).scaling;
    await expect(row('#members-body tr[data-key="bank-a"] td:nth-child(5)').innerText()).resolves.toBe(
      scaling ? 'unchanged' : '—',
    );
    await row('#audit-status[data-state="verified"]').waitFor();
    // Three founders seeded, and each founder's node certificate issued against its seed entry.
    await expect(row('#audit-status').innerText()).resolves.toMatch(/hash chain of 6 entries/);
    await expect(row('#requests-body').innerText()).resolves.toContain('No membership requests yet');
  });

  it('shows a new request in voting with its tally bar, and moves the bar as votes arrive', async () => {
    const key = await newBank('applicant');
    const payload = applicantPayload(name, now());
    requestId = payload.requestId;
    const rg = await host.prepareResourceGroup(payload.applicant.azure);
    expect(rg.status).toBe(201);
    const res = await joseRequest(
      `${host.url}/api/membership-requests`,
      await sign(payload, key.privateKey, { jwk: key.publicJwk }),
    );
    expect(res.status).toBe(202);

    const request = `#requests-body tr[data-request-id="${requestId}"]`;
    await row(`${request}[data-phase="voting"]`).waitFor();
    const bar = row(`${request} .bar`);
    await expect(bar.getAttribute('aria-label')).resolves.toBe(
      '0 approve, 0 reject; 2 of 3 eligible required',
    );
    await expect(row(request).innerText()).resolves.toMatch(/\d+ d \d+ h left/);

    // From here on the page records every phase it shows, to prove it passed through each in place.
    await page.evaluate(`(() => {
      const seen = [];
      window.phases = seen;
      const record = () => {
        const tr = document.querySelector('#requests-body tr[data-request-id="${requestId}"]');
        const phase = tr && tr.getAttribute('data-phase');
        if (phase && seen[seen.length - 1] !== phase) seen.push(phase);
      };
      record();
      new MutationObserver(record).observe(document.getElementById('requests-body'), {
        subtree: true, attributes: true, attributeFilter: ['data-phase'],
      });
    })()`);

    await vote('bank-a');
    await row(`${request} .bar[data-approve="1"]`).waitFor();
    await expect(bar.getAttribute('aria-label')).resolves.toBe(
      '1 approve, 0 reject; 2 of 3 eligible required',
    );
  });

  async function vote(voter: string) {
    expect((await host.vote(requestId, voter)).status).toBe(202);
  }

  it('watches the request move to provisioning and then active, with its timeline, without reloading', async () => {
    await vote('bank-b');
    const request = `#requests-body tr[data-request-id="${requestId}"]`;
    await row(`${request}[data-phase="active"]`).waitFor({ timeout: 60_000 });

    const phases = (await page.evaluate('window.phases')) as string[];
    // Onboarding takes seconds and the page polls every 200 ms, so it shows each phase (approved is brief
    // and may fall between two polls).
    expect(phases.filter((p) => p !== 'approved')).toEqual(['voting', 'provisioning', 'active']);

    // The timeline: every step done, each with a start and a duration.
    const timeline = `#timelines [data-request-id="${requestId}"]`;
    await row(`${timeline}[data-phase="active"]`).waitFor();
    const steps = await page
      .locator(`${timeline} tbody tr`)
      .evaluateAll((rows) => rows.map((r) => [r.getAttribute('data-key'), r.getAttribute('data-state')]));
    expect(steps).toEqual(
      ['access', 'network', 'gateway', 'vault', 'certificate', 'node', 'peering', 'activate'].map((s) => [
        s,
        'succeeded',
      ]),
    );
    const durations = await page
      .locator(`${timeline} tbody tr td:nth-child(4)`)
      .evaluateAll((cells) => cells.map((c) => c.textContent));
    for (const d of durations) expect(d).toMatch(/^\d+ (s|min \d+ s|h \d+ min)$/);

    // The new member, and the audit log still verifying with the decision and certificate in it.
    await row('#members-body tr[data-key="bank-d"][data-status="ACTIVE"]').waitFor();
    const audit = await json(await fetch(`${host.url}/api/audit?limit=1000`));
    const entries = (audit.items as Json[]).length;
    await row('#audit-status', { hasText: `hash chain of ${entries} entries` }).waitFor();
    await expect(row('#audit-status').getAttribute('data-state')).resolves.toBe('verified');
    await expect(row('#audit-body').innerText()).resolves.toContain('certificate.issued');

    // Screen readers heard the change; the page never reloaded.
    await expect(row('#announcer').innerText()).resolves.toMatch(
      /moved from voting to (approved|provisioning|active)/,
    );
    expect(await page.evaluate('window.loadedOnce')).toBe(true);
    expect(navigations).toBe(1);
    expect(problems).toEqual([]);
  });

  it('saves a screenshot of the dashboard', async () => {
    const dir = join(REPO_ROOT, '.trustnet', 'test');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, 'dashboard.png');
    await page.screenshot({ path: file, fullPage: true });
    const png = readFileSync(file);
    expect(png.subarray(0, 8).toString('hex')).toBe('89504e470d0a1a0a');
    expect(png.subarray(12, 16).toString('ascii')).toBe('IHDR');
    expect(png.readUInt32BE(16)).toBe(1280);
    expect(png.readUInt32BE(20)).toBeGreaterThan(900);
    // A blank page compresses to a few kilobytes; tables, bars and text do not.
    expect(png.length).toBeGreaterThan(30_000);
  });

  it('says BROKEN when an entry in the log it is served was altered', async () => {
    const tampered = await browser.newPage();
    await tampered.route('**/api/audit?**', async (route) => {
      const response = await route.fetch();
      const body = (await response.json()) as Json;
      body.items[1].actor = 'mallory';
      await route.fulfill({ response, json: body });
    });
    await tampered.goto(`${host.url}/api/dashboard?refresh=200`);
    await tampered.locator('#audit-status[data-state="broken"]').waitFor();
    await expect(tampered.locator('#audit-status').innerText()).resolves.toMatch(
      /BROKEN at entry 1: hash mismatch/,
    );
    await tampered.close();
  });
});
