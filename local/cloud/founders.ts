import { randomBytes } from 'node:crypto';
import { Arm, type Placement } from '../../azure/arm';
import {
  bankResourceNames,
  certificateSerial,
  connectionParameters,
  deploymentName,
  gatewayIdOf,
  gatewayParameters,
  gatewaySkuFor,
  networkParameters,
  nodeParameters,
  throwawaySshPublicKey,
  vaultParameters,
  type ProvisionPlan,
  type TemplateName,
} from '../../core/provisioning';
import type { ConsortiumConfig } from '../../runtime/consortium';
import { consortiumCa, type ConsortiumCa } from '../../azure/consortium-ca';
import { vaultAdapter } from '../../azure/key-vault';
import { describeCertificate } from '../../core/certificates';
import { getAudit, getRegistry } from '../../functions/edge/services';
import { getPlacements, platformVaultUrl } from '../../orchestrations/provisioning-services';
import { nowMs } from '../../runtime/clock';
import { inParallel } from '../../runtime/parallel';
import { cloudHttpClient, LocalCloudCredential } from './http';
import type { LocalCloud } from './index';

/**
 * The founders' nodes, built in the local cloud at its first start so a new bank has someone to peer
 * with: each founder's resource group (delegated), network, gateway, vault and scale set, and a VPN
 * connection each way between every pair. Built with the platform's own templates and ARM adapter;
 * a founder whose resource group already exists is left alone, so a restart builds nothing twice.
 * Each founder also gets its node CA certificate, as an onboarded bank does (see `issueFounderCertificates`).
 */

type Founder = ConsortiumConfig['members'][number];

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function deploy(
  arm: Arm,
  p: Placement,
  name: string,
  template: TemplateName,
  parameters: Record<string, unknown>,
  options: { validated?: boolean } = {},
): Promise<Record<string, unknown>> {
  await arm.startDeployment(p, name, template, parameters, options);
  for (;;) {
    const state = await arm.deploymentState(p, name);
    if (state?.state === 'succeeded') return state.outputs;
    if (!state || state.state === 'failed')
      throw new Error(
        `Local cloud: founder deployment ${name} failed: ${state ? state.error.message : 'missing'}`,
      );
    await sleep(50);
  }
}

export async function buildFounders(
  cloud: LocalCloud,
  config: ConsortiumConfig,
  platformPrincipalId: string,
): Promise<{ built: string[]; issued: string[] }> {
  const emulator = cloud.arm;
  const arm = new Arm({ credential: new LocalCloudCredential(), httpClient: cloudHttpClient(cloud.handle) });
  const built: string[] = [];
  const fresh: Founder[] = [];
  for (const f of config.members) {
    const exists = await arm.checkAccess(f.azure).then(
      () => true,
      () => false,
    );
    if (exists) continue;
    await emulator.prepareResourceGroup({
      subscriptionId: f.azure.subscriptionId,
      resourceGroup: f.azure.resourceGroup,
      location: f.azure.region,
      tenantId: f.azure.tenantId,
      delegated: true,
    });
    fresh.push(f);
  }
  const gateways = new Map<string, string>();
  // One key for all: nobody holds its private half, and an RSA 3072 key pair per founder cost a third of
  // a second of CPU each (seconds for 31 founders).
  const sshKey = throwawaySshPublicKey();
  // The first founder's deployments are validated by ARM; the others share templates and shapes.
  const build = async (f: Founder, validated: boolean) => {
    const plan: ProvisionPlan = {
      requestId: `founder:${f.id}`,
      attempt: 0,
      bankId: f.id,
      legalName: f.legalName,
      profile: f.profile,
      placement: f.azure,
      slot: config.members.indexOf(f),
      gatewaySku: gatewaySkuFor(config.members.length),
      peers: config.members
        .filter((o) => o.id !== f.id)
        .map((o) => ({ id: o.id, ...o.azure, region: o.azure.region })),
      dryRun: false,
      pollMs: 50,
      retryWindow: 'P7D',
      done: {},
    };
    const name = (part: string) => deploymentName(plan.requestId, part);
    const opts = { validated };
    const network = await deploy(
      arm,
      f.azure,
      name('network'),
      'member-network',
      networkParameters(plan),
      opts,
    );
    const [gateway] = await Promise.all([
      deploy(arm, f.azure, name('gateway'), 'member-gateway', gatewayParameters(plan), opts),
      (async () => {
        const vault = await deploy(
          arm,
          f.azure,
          name('vault'),
          'member-vault',
          vaultParameters(plan, network, platformPrincipalId),
          opts,
        );
        await deploy(
          arm,
          f.azure,
          name('node'),
          'member-node',
          nodeParameters(plan, network, vault, sshKey),
          opts,
        );
      })(),
    ]);
    gateways.set(f.id, String(gateway['gatewayId']));
    built.push(f.id);
  };
  if (fresh[0]) await build(fresh[0], false);
  await Promise.all(fresh.slice(1).map((f) => build(f, true)));
  // A connection each way between every pair of founders built now; each pair's key made here. A few at
  // a time: a consortium of 31 founders has 930 of them, which one after another took a minute.
  const keys = new Map<string, string>();
  const links: Array<[Founder, Founder]> = [];
  for (const a of fresh)
    for (const b of config.members) {
      if (a.id === b.id) continue;
      const pair = [a.id, b.id].sort().join('|');
      if (!keys.has(pair)) keys.set(pair, randomBytes(48).toString('base64url'));
      links.push([a, b]);
    }
  const link = async ([a, b]: (typeof links)[number], validated: boolean) => {
    const from = {
      id: a.id,
      region: a.azure.region,
      gatewayId: gateways.get(a.id) ?? gatewayIdOf(a.id, a.azure),
    };
    const to = { id: b.id, gatewayId: gateways.get(b.id) ?? gatewayIdOf(b.id, b.azure) };
    const key = keys.get([a.id, b.id].sort().join('|'))!;
    await deploy(
      arm,
      a.azure,
      deploymentName(`founder:${a.id}`, `cn-${b.id}-out`),
      'vpn-connection',
      connectionParameters(from, to, key),
      { validated: validated },
    );
  };
  // ARM validates the first; the others share its template and shape, so 31 founders' 930 connections
  // skip 929 validation round trips.
  if (links[0]) await link(links[0], false);
  await inParallel(links.slice(1), 16, (l) => link(l, true));
  const issued = await issueFounderCertificates(cloud, config, arm);
  return { built, issued };
}

/**
 * The audit entry that made each founder a member (what its certificate is issued against), and the
 * serials already audited.
 */
async function seedEntries(): Promise<{ seeded: Map<string, number>; issued: Set<string> }> {
  // The registry seeds the founders (audit entry first) before it answers.
  await getRegistry();
  const audit = await getAudit();
  const seeded = new Map<string, number>();
  const issued = new Set<string>();
  let continuation: string | null = null;
  do {
    const page: Awaited<ReturnType<typeof audit.list>> = await audit.list({ continuation, limit: 500 });
    for (const e of page.items) {
      // The latest, as `audit verify` reads it, should seeding ever have run twice.
      if (e.kind === 'member.seeded') seeded.set(e.subject, e.seq);
      if (e.kind === 'certificate.issued') issued.add(String(e.data['serial']));
    }
    continuation = page.continuation;
  } while (continuation);
  return { seeded, issued };
}

/**
 * Every founder's node CA certificate, issued the way an onboarding issues one: the key pair made in
 * the founder's own vault (issuer Unknown), its CSR signed by the doorman through Key Vault `sign`
 * (subject = the legal name, Corda's role), the chain merged back, the signature audited. A founder has
 * no approval vote: the founding is its decision, so the audit entry names the founder's
 * `member.seeded` entry as its `decisionSeq` and carries no `requestId`. Placements are made in the
 * config's order (slots follow it), so renewal, teardown and the CRL see founders like any member.
 * Each part looks before it acts: a restart, or a retry after a crash half-way, issues nothing twice.
 */
export async function issueFounderCertificates(
  cloud: LocalCloud,
  config: ConsortiumConfig,
  arm: Arm,
): Promise<string[]> {
  const placements = getPlacements();
  const todo: Array<{ founder: ConsortiumConfig['members'][number]; vaultUri: string }> = [];
  for (const f of config.members) {
    const placement = await placements.ensure({ memberId: f.id, ...f.azure });
    if (placement.certificate) continue;
    const vault = await arm.deploymentState(f.azure, deploymentName(`founder:${f.id}`, 'vault'));
    if (vault?.state !== 'succeeded') {
      // A first start that died half-way leaves such a founder; its data dir still starts, as before.
      console.warn(`Local cloud: founder ${f.id} has no vault, so no node certificate was issued for it.`);
      continue;
    }
    todo.push({ founder: f, vaultUri: String(vault.outputs['vaultUri']) });
  }
  if (todo.length === 0) return [];
  const seeds = await seedEntries();
  const options = { credential: new LocalCloudCredential(), httpClient: cloudHttpClient(cloud.handle) };
  const ca = consortiumCa(vaultAdapter(platformVaultUrl(), options), {
    consortiumName: config.name,
    now: () => new Date(nowMs()),
  });
  // Once, before the founders in parallel: the first issue creates the CA.
  await ca.ensure();
  await Promise.all(
    todo.map(({ founder, vaultUri }) => {
      const decisionSeq = seeds.seeded.get(founder.id);
      if (decisionSeq === undefined)
        throw new Error(`Local cloud: founder ${founder.id} has no member.seeded entry in the audit log.`);
      return issueOne(ca, vaultAdapter(vaultUri, options), {
        memberId: founder.id,
        legalName: founder.legalName,
        vaultUri,
        decisionSeq,
        audited: seeds.issued,
      });
    }),
  );
  return todo.map((t) => t.founder.id);
}

async function issueOne(
  ca: ConsortiumCa,
  vault: ReturnType<typeof vaultAdapter>,
  p: { memberId: string; legalName: string; vaultUri: string; decisionSeq: number; audited: Set<string> },
): Promise<void> {
  const name = bankResourceNames(p.memberId).certificate;
  const generation = 1;
  // The founder's pending create is resumed if a crash left one; a merged one answers `done`.
  const begun = await vault.beginCertificate(name, p.legalName, { exportable: true, validityMonths: 12 });
  let thumbprint: string;
  let certPem: string;
  if ('done' in begun) {
    const current = await vault.getCertificate(name);
    if (!current) throw new Error(`Local cloud: certificate ${name} in ${p.vaultUri} vanished.`);
    certPem = current.pem;
    thumbprint = describeCertificate(certPem).thumbprint;
  } else {
    const serial = certificateSerial(`founder:${p.memberId}`, generation);
    const signed = await ca.signNodeCsr({ csrPem: begun.csrPem, legalName: p.legalName, serial });
    certPem = signed.certPem;
    thumbprint = (await vault.mergeCertificate(name, signed.chainPems)).thumbprint;
  }
  const described = describeCertificate(certPem);
  if (!p.audited.has(described.serial))
    await (
      await getAudit()
    ).append(
      {
        kind: 'certificate.issued',
        subject: p.memberId,
        actor: 'platform',
        data: {
          memberId: p.memberId,
          serial: described.serial,
          subject: described.subject,
          issuer: described.issuer,
          thumbprint,
          notAfter: described.notAfter.toISOString(),
          decisionSeq: p.decisionSeq,
          generation,
        },
      },
      () => new Date(nowMs()),
    );
  await getPlacements().update(p.memberId, (placement) => ({
    ...placement,
    vaultUri: p.vaultUri,
    certificate: {
      serial: described.serial,
      thumbprint,
      subject: described.subject,
      notAfter: described.notAfter.toISOString(),
      generation,
      decisionSeq: p.decisionSeq,
    },
  }));
}
