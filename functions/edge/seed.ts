import type { AuditLog } from '../../azure/audit-log';
import type { Registry } from '../../azure/registry';
import type { Member } from '../../core/membership';
import { maskWebhookUrl } from '../../core/mask';
import { keyThumbprint } from '../../core/signed';
import { nowMs } from '../../runtime/clock';
import type { ConsortiumConfig } from '../../runtime/consortium';

/**
 * Seeds the consortium's founders as ACTIVE members. Idempotent: the audit entry comes first and the
 * member row second, so an interrupted seeding repeats at the next start rather than leaving a member
 * the log never saw.
 */
export async function seedFounders(
  config: ConsortiumConfig,
  registry: Registry,
  audit: AuditLog,
): Promise<number> {
  let seeded = 0;
  for (const f of config.members) {
    if (await registry.getMember(f.id)) continue;
    const at = new Date(nowMs());
    await audit.append(
      {
        kind: 'member.seeded',
        subject: f.id,
        actor: 'platform',
        data: { memberId: f.id, legalName: f.legalName, governanceKey: f.governanceKey },
      },
      () => at,
    );
    const member: Member = {
      id: f.id,
      legalName: f.legalName,
      status: 'ACTIVE',
      governanceKey: f.governanceKey,
      keyThumbprint: await keyThumbprint(f.governanceKey),
      // The Teams webhook URL is a secret: it stays in the config (and Key Vault once set by the member).
      contacts: { email: f.contacts.email },
      channels: {
        email: f.contacts.email,
        teams: f.contacts.teamsWebhook ? { masked: maskWebhookUrl(f.contacts.teamsWebhook) } : null,
        setByMember: false,
        updatedAt: at.toISOString(),
      },
      azure: f.azure,
      profile: f.profile,
      joinedAt: at.toISOString(),
      founder: true,
    };
    if (await registry.addMember(member)) seeded++;
  }
  return seeded;
}
