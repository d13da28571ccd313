/**
 * IPv4 address spaces for member VNets. Peered VNets must not overlap, so each bank's space is checked
 * against the others before anything is deployed.
 */

/** Addresses are unsigned 32-bit integers; `first` and `last` are inclusive. */
export interface Cidr {
  text: string;
  base: number;
  prefix: number;
  first: number;
  last: number;
}

export class CidrError extends Error {
  readonly code = 'ADDRESS.INVALID';
  constructor(message: string) {
    super(message);
    this.name = 'CidrError';
  }
}

// Bounds for one member's VNet address space: the smallest, /26, holds a /27 GatewaySubnet (the size
// Microsoft recommends) and a /27 node subnet.
const MIN_PREFIX = 8;
const MAX_PREFIX = 26;

const PATTERN = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/;

const size = (prefix: number) => 2 ** (32 - prefix);

function formatAddress(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

function range(text: string, base: number, prefix: number): Cidr {
  return { text, base, prefix, first: base, last: base + size(prefix) - 1 };
}

/** Ranges Azure refuses in a VNet address space. */
const RESERVED: { owner: string; cidr: Cidr }[] = [
  { owner: 'the "this network" block', cidr: range('0.0.0.0/8', 0x00000000, 8) },
  { owner: 'the loopback block', cidr: range('127.0.0.0/8', 0x7f000000, 8) },
  { owner: 'the link-local block', cidr: range('169.254.0.0/16', 0xa9fe0000, 16) },
  {
    owner: "Azure's platform address for DNS and health probes",
    cidr: range('168.63.129.16/32', 0xa83f8110, 32),
  },
  { owner: 'the multicast block', cidr: range('224.0.0.0/4', 0xe0000000, 4) },
  { owner: 'the reserved block, which includes broadcast', cidr: range('240.0.0.0/4', 0xf0000000, 4) },
];

export function parseCidr(text: string): Cidr {
  const trimmed = text.trim();
  const m = PATTERN.exec(trimmed);
  if (!m) throw new CidrError(`"${text}" is not an IPv4 address space such as 10.1.0.0/16`);
  const parts = m.slice(1);
  for (const part of parts) {
    // A leading zero reads as octal to some tools, so 010 is refused rather than guessed at.
    if (part.length > 1 && part.startsWith('0')) {
      throw new CidrError(`"${trimmed}" has a leading zero in "${part}"; write it without one`);
    }
  }
  const [a, b, c, d, p] = parts.map(Number) as [number, number, number, number, number];
  for (const octet of [a, b, c, d]) {
    if (octet > 255) throw new CidrError(`"${trimmed}" has the octet ${octet}; octets run from 0 to 255`);
  }
  if (p < MIN_PREFIX || p > MAX_PREFIX) {
    throw new CidrError(
      `"${trimmed}" has prefix /${p}; a VNet address space must be from /${MIN_PREFIX} (largest) to /${MAX_PREFIX} (smallest)`,
    );
  }
  const address = ((a * 256 + b) * 256 + c) * 256 + d;
  const base = address - (address % size(p));
  if (base !== address) {
    throw new CidrError(`"${trimmed}" has host bits set; did you mean ${formatAddress(base)}/${p}?`);
  }
  const cidr = range(trimmed, base, p);
  const reserved = findOverlap(cidr, RESERVED);
  if (reserved) {
    throw new CidrError(
      `"${trimmed}" overlaps ${reserved.cidr.text}, ${reserved.owner}, which Azure does not allow in a VNet`,
    );
  }
  return cidr;
}

export function overlaps(a: Cidr, b: Cidr): boolean {
  return a.first <= b.last && b.first <= a.last;
}

/** The first of `others` whose space overlaps `candidate`, to name it in the refusal. */
export function findOverlap(
  candidate: Cidr,
  others: { owner: string; cidr: Cidr }[],
): { owner: string; cidr: Cidr } | undefined {
  return others.find((other) => overlaps(candidate, other.cidr));
}
