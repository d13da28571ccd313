import { readFileSync } from 'node:fs';
import type { JWK } from 'jose';
import { parseCidr, findOverlap, type Cidr } from '../core/cidr';
import { parseDuration, addDuration, DurationError } from '../core/duration';
import type { AzurePlacement, Contacts, Profile } from '../core/membership';
import type { Policy } from '../core/policy';
import { parseLegalName, sameLegalName, LegalNameError } from '../core/x500';
import { schemaErrors, type FieldError } from './schemas';
import { requireSetting } from './settings';

export interface FounderConfig {
  id: string;
  legalName: string;
  governanceKey: JWK;
  contacts: Contacts;
  azure: AzurePlacement;
  profile: Profile;
}

export interface ConsortiumConfig {
  name: string;
  regions?: string[];
  policy: Policy;
  votingWindow: string;
  members: FounderConfig[];
}

export class ConsortiumConfigError extends Error {
  readonly code = 'CONFIG.INVALID';
  constructor(
    readonly file: string,
    readonly errors: FieldError[],
  ) {
    super(
      `Consortium file ${file} is not valid:\n${errors.map((e) => `  ${e.pointer}: ${e.detail}`).join('\n')}`,
    );
    this.name = 'ConsortiumConfigError';
  }
}

/** Checks a parsed config: the schema first, then what a schema cannot say (uniqueness, overlaps, names). */
export function consortiumErrors(value: unknown): FieldError[] {
  const errors = schemaErrors('consortium', value);
  if (errors.length) return errors;
  const config = value as ConsortiumConfig;
  try {
    const window = parseDuration(config.votingWindow);
    const ms = addDuration(new Date(0), window).getTime();
    if (ms < 3600e3 || ms > 90 * 24 * 3600e3)
      errors.push({ pointer: '/votingWindow', detail: 'must be from PT1H to P90D' });
  } catch (e) {
    if (!(e instanceof DurationError)) throw e;
    errors.push({ pointer: '/votingWindow', detail: e.message });
  }
  if (config.policy.kind === 'threshold' && config.policy.quorum > config.members.length * 1000) {
    errors.push({ pointer: '/policy/quorum', detail: 'is larger than any consortium could reach' });
  }
  const seenIds = new Map<string, number>();
  const cidrs: { owner: string; cidr: Cidr }[] = [];
  config.members.forEach((m, i) => {
    const at = `/members/${i}`;
    if (seenIds.has(m.id))
      errors.push({ pointer: `${at}/id`, detail: `repeats the id of /members/${seenIds.get(m.id)}` });
    seenIds.set(m.id, i);
    try {
      const name = parseLegalName(m.legalName);
      const twin = config.members.findIndex(
        (o, j) =>
          j < i &&
          (() => {
            try {
              return sameLegalName(parseLegalName(o.legalName), name);
            } catch {
              return false;
            }
          })(),
      );
      if (twin >= 0)
        errors.push({ pointer: `${at}/legalName`, detail: `is the same legal name as /members/${twin}` });
    } catch (e) {
      if (!(e instanceof LegalNameError)) throw e;
      errors.push({ pointer: `${at}/legalName`, detail: e.message });
    }
    try {
      const cidr = parseCidr(m.azure.addressSpace);
      const clash = findOverlap(cidr, cidrs);
      if (clash)
        errors.push({
          pointer: `${at}/azure/addressSpace`,
          detail: `overlaps ${clash.cidr.text} of ${clash.owner}`,
        });
      cidrs.push({ owner: m.id, cidr });
    } catch (e) {
      errors.push({ pointer: `${at}/azure/addressSpace`, detail: (e as Error).message });
    }
    if (config.regions && !config.regions.includes(m.azure.region)) {
      errors.push({
        pointer: `${at}/azure/region`,
        detail: `is not one of the consortium's regions (${config.regions.join(', ')})`,
      });
    }
  });
  return errors;
}

export function loadConsortiumFile(file: string): ConsortiumConfig {
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new ConsortiumConfigError(file, [
      { pointer: '/', detail: `cannot be read as JSON: ${(e as Error).message}` },
    ]);
  }
  const errors = consortiumErrors(value);
  if (errors.length) throw new ConsortiumConfigError(file, errors);
  return value as ConsortiumConfig;
}

let cached: { file: string; config: ConsortiumConfig } | undefined;

/** The consortium this app instance serves, from the file named by TRUSTNET_CONSORTIUM_FILE (read once). */
export function consortium(env: NodeJS.ProcessEnv = process.env): ConsortiumConfig {
  const file = requireSetting('TRUSTNET_CONSORTIUM_FILE', env);
  if (cached?.file !== file) cached = { file, config: loadConsortiumFile(file) };
  return cached.config;
}
