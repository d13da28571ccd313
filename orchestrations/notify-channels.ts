import { getConsortium } from '../functions/edge/services';
import type { Member } from '../core/membership';
import { readSetting } from '../runtime/settings';
import { platformVault } from './vaults';

/**
 * Where notifications go. A Teams Workflows webhook URL carries its own signature, so it is a secret:
 * kept in the platform vault (secret `teams-webhook-<member>`), read when a card is sent, and never
 * written to the registry, the audit log, an orchestration's history or a log line.
 */

export const OPERATORS = 'operators';

function secretName(memberId: string): string {
  return `teams-webhook-${memberId}`;
}

export async function setTeamsWebhook(memberId: string, url: string): Promise<void> {
  await platformVault().setSecret(secretName(memberId), url, { purpose: 'teams-webhook', member: memberId });
}

/**
 * A removed webhook is a new version saying so, not a deleted secret: Key Vault keeps deleted secrets
 * (soft delete, purge protection), and setting a deleted name again fails until it is recovered.
 */
export async function removeTeamsWebhook(memberId: string): Promise<void> {
  await platformVault().setSecret(secretName(memberId), 'none', {
    purpose: 'teams-webhook',
    member: memberId,
    removed: 'true',
  });
}

/**
 * The member's webhook: what it set itself, or, for a founder that never did, the consortium config's.
 * Undefined when it has none. The vault is read only when there can be one: the member's channels say it
 * set a webhook, or it set none and the consortium config names one for it. So planning an event for a
 * consortium whose members use email alone reads no secret at all (it was a vault read per member).
 */
export async function teamsWebhookOf(member: Member): Promise<string | undefined> {
  const founder = getConsortium().members.find((f) => f.id === member.id)?.contacts.teamsWebhook;
  if (member.channels?.setByMember ? member.channels.teams === null : !founder) return undefined;
  const stored = await platformVault().readSecret(secretName(member.id));
  if (stored) return stored.tags['removed'] === 'true' ? undefined : stored.value;
  if (member.channels?.setByMember) return undefined;
  // A founder's URL from the consortium file is kept in the vault from its first use on, like any other.
  if (founder) await setTeamsWebhook(member.id, founder);
  return founder;
}

export function emailsOf(member: Member): string[] {
  return member.channels?.email ?? member.contacts.email;
}

/** The consortium's operators: who hears of failures. */
export function operatorEmails(): string[] {
  return (readSetting('TRUSTNET_OPERATORS_EMAIL') ?? '')
    .split(/[,;\s]+/)
    .map((s) => s.trim())
    .filter(Boolean);
}

export function operatorsWebhook(): string | undefined {
  const value = readSetting('TRUSTNET_OPERATORS_TEAMS_WEBHOOK')?.trim();
  // An unresolved Key Vault reference (its secret not created yet) reaches the app as the raw text.
  if (!value || value.startsWith('@Microsoft.KeyVault(')) return undefined;
  return value;
}
