import { X509Certificate } from 'node:crypto';
import { verifyChain as verifyAudit } from '../core/audit';
import { describeCertificate, splitPem } from '../core/certificates';
import { getPlacements } from '../orchestrations/provisioning-services';
import { vaultAt } from '../orchestrations/vaults';
import { json, type Json } from '../test/http';
import { startTrustNet, testConsortium } from '../test/trustnet';

// An onboarding, then a year of daily timers renewing four members: generous on a busy 2-core machine.
jest.setTimeout(120_000);

/** A node certificate is renewed by the daily timer once it is within TRUSTNET_CERT_RENEW_BEFORE of expiry. */
describe('certificate renewal', () => {
  let host: Awaited<ReturnType<typeof startTrustNet>>;

  beforeAll(async () => {
    host = await startTrustNet(await testConsortium());
  });
  afterAll(() => host.stop());

  it('renews 30 days before expiry, against the original approval, and only once', async () => {
    const { id } = await host.applyAndApprove();
    await host.phase(id, ['active']);
    const first = (await getPlacements().get('bank-d'))!.certificate!;
    expect(first.generation).toBe(1);
    const expires = Date.parse(first.notAfter);

    // 40 days before expiry: nothing due yet.
    const early = expires - 40 * 86_400_000 - host.clock.now();
    await host.advanceClock(`PT${Math.floor(early / 1000)}S`);
    expect((await getPlacements().get('bank-d'))!.certificate!.generation).toBe(1);

    // Fifteen more days: the daily timer has passed the 30-day mark and renewed it, once.
    await host.advanceClock('P15D');
    const renewed = await host.until(
      'renewal',
      async () => (await getPlacements().get('bank-d'))!.certificate!,
      (cert) => cert.generation !== 1,
    );
    expect(renewed.generation).toBe(2);
    expect(renewed.serial).not.toBe(first.serial);
    expect(Date.parse(renewed.notAfter)).toBeGreaterThan(expires);
    expect((await getPlacements().get('bank-d'))!.previousSerials).toEqual([first.serial]);

    const placement = (await getPlacements().get('bank-d'))!;
    const stored = await vaultAt(placement.vaultUri!).getCertificate('corda-node-ca');
    expect(describeCertificate(stored!.pem).serial).toBe(renewed.serial);
    const doorman = await vaultAt('https://trustnet-platform.vault.azure.net').getSecret(
      'trustnet-doorman-ca-cert',
    );
    expect(
      new X509Certificate(stored!.pem).verify(new X509Certificate(splitPem(doorman!)[0]!).publicKey),
    ).toBe(true);

    await host.advanceClock('P3D');
    const audit = await json(await fetch(`${host.url}/api/audit?limit=1000`));
    const issued = audit.items.filter((e: Json) => e.kind === 'certificate.issued' && e.subject === 'bank-d');
    expect(issued.map((e: Json) => e.data.generation)).toEqual([1, 2]);
    expect(issued[1].data.decisionSeq).toBe(issued[0].data.decisionSeq);
    await expect(verifyAudit(audit.items)).resolves.toMatchObject({ ok: true });
    // The founders' certificates, issued when the local cloud first started, were renewed too,
    // against their seed entries.
    for (const founder of ['bank-a', 'bank-b', 'bank-c']) {
      expect((await getPlacements().get(founder))!.certificate!.generation).toBe(2);
      const theirs = audit.items.filter(
        (e: Json) => e.kind === 'certificate.issued' && e.subject === founder,
      );
      expect(theirs.map((e: Json) => e.data.generation)).toEqual([1, 2]);
      expect(theirs[1].data.decisionSeq).toBe(theirs[0].data.decisionSeq);
      expect(theirs[1].data.requestId).toBeUndefined();
    }
  });
});
