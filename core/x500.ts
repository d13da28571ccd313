/**
 * Corda X.500 legal names such as `O=Bank C, L=Paris, C=FR`. The checks catch, before anything is deployed,
 * the mistakes Corda would refuse when the node starts or registers with the network map.
 */

export interface LegalName {
  O: string;
  L: string;
  C: string;
  OU?: string;
  ST?: string;
  CN?: string;
}

type Key = keyof LegalName;

/** Corda's canonical order. */
const ORDER: readonly Key[] = ['CN', 'OU', 'O', 'L', 'ST', 'C'];
const REQUIRED: readonly Key[] = ['O', 'L', 'C'];
/** Length limits in UTF-16 code units, as Corda counts them (Java's String.length). */
const LIMITS: Record<Exclude<Key, 'C'>, [number, number]> = {
  O: [2, 128],
  L: [2, 64],
  OU: [1, 64],
  ST: [1, 64],
  CN: [1, 64],
};
const FORBIDDEN = /[,=$"'\\]/;
// eslint-disable-next-line no-control-regex -- finding control characters is the point.
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

export class LegalNameError extends Error {
  readonly code = 'NAME.INVALID';
  constructor(message: string) {
    super(message);
    this.name = 'LegalNameError';
  }
}

const isKey = (k: string): k is Key => (ORDER as readonly string[]).includes(k);

function checkValue(key: Key, value: string): void {
  if (value.trim() !== value) {
    throw new LegalNameError(`${key} value ${JSON.stringify(value)} has leading or trailing whitespace`);
  }
  const forbidden = FORBIDDEN.exec(value);
  if (forbidden) {
    throw new LegalNameError(
      `${key} value ${JSON.stringify(value)} contains the forbidden character ${forbidden[0]}`,
    );
  }
  if (CONTROL.test(value)) {
    throw new LegalNameError(`${key} value ${JSON.stringify(value)} contains a control character`);
  }
  if (key === 'C') {
    if (!/^[A-Z]{2}$/.test(value)) {
      throw new LegalNameError(
        `C must be a two-letter upper-case ISO 3166-1 country code such as FR, got ${JSON.stringify(value)}`,
      );
    }
    return;
  }
  const [min, max] = LIMITS[key];
  const length = value.length;
  if (length === 0) throw new LegalNameError(`${key} must not be empty`);
  if (length < min || length > max) {
    throw new LegalNameError(`${key} must be ${min} to ${max} characters long, got ${length}`);
  }
}

export function parseLegalName(text: string): LegalName {
  const trimmed = text.trim();
  if (trimmed === '') throw new LegalNameError('a legal name is required, such as O=Bank C, L=Paris, C=FR');
  const found: Partial<Record<Key, string>> = {};
  for (const raw of trimmed.split(',')) {
    // Spaces after a comma separate attributes; any other whitespace belongs to the attribute.
    const part = raw.replace(/^ +/, '');
    if (part === '') throw new LegalNameError('empty attribute: check for a stray comma');
    const eq = part.indexOf('=');
    if (eq < 0) {
      throw new LegalNameError(
        `${JSON.stringify(part)} is not an attribute of the form KEY=value (values cannot contain commas)`,
      );
    }
    const name = part.slice(0, eq);
    const key = name.toUpperCase();
    if (!isKey(key)) {
      throw new LegalNameError(`unknown attribute ${JSON.stringify(name)}; allowed are ${ORDER.join(', ')}`);
    }
    if (found[key] !== undefined) throw new LegalNameError(`attribute ${key} appears more than once`);
    const value = part.slice(eq + 1);
    checkValue(key, value);
    found[key] = value;
  }
  const missing = REQUIRED.filter((k) => found[k] === undefined);
  if (missing.length > 0) {
    throw new LegalNameError(`missing ${missing.join(', ')}: a legal name needs O, L and C`);
  }
  // Built in canonical order with absent attributes left out, so names compare with toEqual.
  const name: Partial<Record<Key, string>> = {};
  for (const k of ORDER) if (found[k] !== undefined) name[k] = found[k];
  return name as LegalName;
}

export function formatLegalName(name: LegalName): string {
  return ORDER.filter((k) => name[k] !== undefined)
    .map((k) => `${k}=${name[k]}`)
    .join(', ');
}

// Upper then lower case folds more than lower case alone: Straße and STRASSE clash.
const normalize = (value: string | undefined) =>
  value?.trim().replace(/\s+/g, ' ').toUpperCase().toLowerCase();

/** Whether two names would clash: the same attributes with values equal ignoring case and spacing. */
export function sameLegalName(a: LegalName, b: LegalName): boolean {
  return ORDER.every((k) => normalize(a[k]) === normalize(b[k]));
}
