import fc from 'fast-check';
import { CidrError, findOverlap, overlaps, parseCidr, type Cidr } from './cidr';

const ip = (n: number) =>
  [Math.floor(n / 2 ** 24), Math.floor(n / 2 ** 16) % 256, Math.floor(n / 256) % 256, n % 256].join('.');

function refusal(text: string): CidrError {
  try {
    parseCidr(text);
  } catch (e) {
    expect(e).toBeInstanceOf(CidrError);
    expect((e as CidrError).code).toBe('ADDRESS.INVALID');
    return e as CidrError;
  }
  throw new Error(`${text} was accepted`);
}

describe('parseCidr', () => {
  it.each<[string, Cidr]>([
    ['10.0.0.0/8', { text: '10.0.0.0/8', base: 167772160, prefix: 8, first: 167772160, last: 184549375 }],
    ['10.1.0.0/16', { text: '10.1.0.0/16', base: 167837696, prefix: 16, first: 167837696, last: 167903231 }],
    [
      '172.16.0.0/12',
      { text: '172.16.0.0/12', base: 2886729728, prefix: 12, first: 2886729728, last: 2887778303 },
    ],
    [
      '192.168.1.0/24',
      { text: '192.168.1.0/24', base: 3232235776, prefix: 24, first: 3232235776, last: 3232236031 },
    ],
    [
      '10.1.2.64/26',
      { text: '10.1.2.64/26', base: 167838272, prefix: 26, first: 167838272, last: 167838335 },
    ],
    ['20.0.0.0/8', { text: '20.0.0.0/8', base: 335544320, prefix: 8, first: 335544320, last: 352321535 }],
    ['1.0.0.0/8', { text: '1.0.0.0/8', base: 16777216, prefix: 8, first: 16777216, last: 33554431 }],
    [
      '223.255.255.192/26',
      { text: '223.255.255.192/26', base: 3758096320, prefix: 26, first: 3758096320, last: 3758096383 },
    ],
    [
      ' 10.1.0.0/16 ',
      { text: '10.1.0.0/16', base: 167837696, prefix: 16, first: 167837696, last: 167903231 },
    ],
  ])('parses %j', (text, expected) => {
    expect(parseCidr(text)).toEqual(expected);
  });

  it.each([
    '126.0.0.0/8',
    '128.0.0.0/8',
    '169.253.0.0/16',
    '169.255.0.0/16',
    '168.63.128.0/24',
    '168.63.128.192/26',
    '168.63.129.64/26',
    '192.0.0.0/8',
  ])('accepts %j next to a reserved block', (text) => {
    expect(parseCidr(text).text).toBe(text);
  });

  it.each<[string, string]>([
    ['10.1.0.1/16', '"10.1.0.1/16" has host bits set; did you mean 10.1.0.0/16?'],
    ['192.168.1.77/24', '"192.168.1.77/24" has host bits set; did you mean 192.168.1.0/24?'],
    ['10.255.255.255/9', '"10.255.255.255/9" has host bits set; did you mean 10.128.0.0/9?'],
    ['10.0.0.4/26', '"10.0.0.4/26" has host bits set; did you mean 10.0.0.0/26?'],
    ['10.0.0.32/26', '"10.0.0.32/26" has host bits set; did you mean 10.0.0.0/26?'],
    ['10.0.0.0', '"10.0.0.0" is not an IPv4 address space such as 10.1.0.0/16'],
    ['10.0.0/16', '"10.0.0/16" is not an IPv4 address space such as 10.1.0.0/16'],
    ['10.0.0.0/', '"10.0.0.0/" is not an IPv4 address space such as 10.1.0.0/16'],
    ['10.0.0.0/16/16', '"10.0.0.0/16/16" is not an IPv4 address space such as 10.1.0.0/16'],
    ['10.0.0.0 /16', '"10.0.0.0 /16" is not an IPv4 address space such as 10.1.0.0/16'],
    ['1000.0.0.0/8', '"1000.0.0.0/8" is not an IPv4 address space such as 10.1.0.0/16'],
    ['10.0.0.0/100', '"10.0.0.0/100" is not an IPv4 address space such as 10.1.0.0/16'],
    ['-1.0.0.0/8', '"-1.0.0.0/8" is not an IPv4 address space such as 10.1.0.0/16'],
    ['a.b.c.d/8', '"a.b.c.d/8" is not an IPv4 address space such as 10.1.0.0/16'],
    ['', '"" is not an IPv4 address space such as 10.1.0.0/16'],
    ['256.0.0.0/8', '"256.0.0.0/8" has the octet 256; octets run from 0 to 255'],
    ['10.0.0.300/26', '"10.0.0.300/26" has the octet 300; octets run from 0 to 255'],
    ['010.0.0.0/8', '"010.0.0.0/8" has a leading zero in "010"; write it without one'],
    ['10.0.0.00/24', '"10.0.0.00/24" has a leading zero in "00"; write it without one'],
    ['10.0.0.0/08', '"10.0.0.0/08" has a leading zero in "08"; write it without one'],
    [
      '10.0.0.0/7',
      '"10.0.0.0/7" has prefix /7; a VNet address space must be from /8 (largest) to /26 (smallest)',
    ],
    [
      '10.0.0.0/27',
      '"10.0.0.0/27" has prefix /27; a VNet address space must be from /8 (largest) to /26 (smallest)',
    ],
    [
      '10.0.0.0/29',
      '"10.0.0.0/29" has prefix /29; a VNet address space must be from /8 (largest) to /26 (smallest)',
    ],
    [
      '10.0.0.0/30',
      '"10.0.0.0/30" has prefix /30; a VNet address space must be from /8 (largest) to /26 (smallest)',
    ],
    [
      '0.0.0.0/0',
      '"0.0.0.0/0" has prefix /0; a VNet address space must be from /8 (largest) to /26 (smallest)',
    ],
    [
      '0.0.0.0/8',
      '"0.0.0.0/8" overlaps 0.0.0.0/8, the "this network" block, which Azure does not allow in a VNet',
    ],
    [
      '0.1.0.0/16',
      '"0.1.0.0/16" overlaps 0.0.0.0/8, the "this network" block, which Azure does not allow in a VNet',
    ],
    [
      '127.0.0.0/8',
      '"127.0.0.0/8" overlaps 127.0.0.0/8, the loopback block, which Azure does not allow in a VNet',
    ],
    [
      '127.1.0.0/16',
      '"127.1.0.0/16" overlaps 127.0.0.0/8, the loopback block, which Azure does not allow in a VNet',
    ],
    [
      '169.254.10.0/24',
      '"169.254.10.0/24" overlaps 169.254.0.0/16, the link-local block, which Azure does not allow in a VNet',
    ],
    [
      '169.0.0.0/8',
      '"169.0.0.0/8" overlaps 169.254.0.0/16, the link-local block, which Azure does not allow in a VNet',
    ],
    [
      '0.255.255.192/26',
      '"0.255.255.192/26" overlaps 0.0.0.0/8, the "this network" block, which Azure does not allow in a VNet',
    ],
    [
      '127.255.255.192/26',
      '"127.255.255.192/26" overlaps 127.0.0.0/8, the loopback block, which Azure does not allow in a VNet',
    ],
    [
      '169.254.255.192/26',
      '"169.254.255.192/26" overlaps 169.254.0.0/16, the link-local block, which Azure does not allow in a VNet',
    ],
    [
      '168.63.129.0/26',
      '"168.63.129.0/26" overlaps 168.63.129.16/32, Azure\'s platform address for DNS and health probes, which Azure does not allow in a VNet',
    ],
    [
      '168.63.129.0/24',
      '"168.63.129.0/24" overlaps 168.63.129.16/32, Azure\'s platform address for DNS and health probes, which Azure does not allow in a VNet',
    ],
    [
      '224.0.0.0/8',
      '"224.0.0.0/8" overlaps 224.0.0.0/4, the multicast block, which Azure does not allow in a VNet',
    ],
    [
      '239.255.255.192/26',
      '"239.255.255.192/26" overlaps 224.0.0.0/4, the multicast block, which Azure does not allow in a VNet',
    ],
    [
      '240.0.0.0/8',
      '"240.0.0.0/8" overlaps 240.0.0.0/4, the reserved block, which includes broadcast, which Azure does not allow in a VNet',
    ],
    [
      '255.255.255.192/26',
      '"255.255.255.192/26" overlaps 240.0.0.0/4, the reserved block, which includes broadcast, which Azure does not allow in a VNet',
    ],
  ])('refuses %j', (text, message) => {
    expect(refusal(text).message).toBe(message);
  });
});

describe('overlaps and findOverlap', () => {
  const c = (text: string) => parseCidr(text);

  it.each<[string, string, boolean]>([
    ['10.0.0.0/8', '10.1.0.0/16', true],
    ['10.1.0.0/16', '10.1.255.192/26', true],
    ['10.1.0.0/16', '10.2.0.0/16', false],
    ['10.0.0.0/16', '10.1.0.0/16', false],
    ['10.1.0.0/24', '10.1.1.0/24', false],
    ['10.1.0.0/23', '10.1.1.0/24', true],
    ['10.1.2.0/26', '10.1.2.64/26', false],
    ['10.1.2.0/25', '10.1.2.64/26', true],
    ['10.0.0.0/8', '11.0.0.0/8', false],
    ['172.16.0.0/12', '172.31.255.0/24', true],
    ['172.16.0.0/12', '172.32.0.0/16', false],
  ])('%s and %s: %s', (a, b, expected) => {
    expect(overlaps(c(a), c(b))).toBe(expected);
    expect(overlaps(c(b), c(a))).toBe(expected);
  });

  it('counts a single shared address as an overlap', () => {
    const range = (first: number, last: number): Cidr => ({ text: '', base: first, prefix: 0, first, last });
    expect(overlaps(range(0, 10), range(10, 20))).toBe(true);
    expect(overlaps(range(10, 20), range(0, 10))).toBe(true);
    expect(overlaps(range(0, 9), range(10, 20))).toBe(false);
    expect(overlaps(range(5, 5), range(5, 5))).toBe(true);
  });

  it('names the first member whose space overlaps', () => {
    const others = [
      { owner: 'Bank A', cidr: c('10.1.0.0/16') },
      { owner: 'Bank B', cidr: c('10.2.0.0/16') },
      { owner: 'Bank C', cidr: c('10.2.128.0/17') },
    ];
    expect(findOverlap(c('10.2.200.0/24'), others)).toEqual(others[1]);
    expect(findOverlap(c('10.0.0.0/8'), others)).toEqual(others[0]);
    expect(findOverlap(c('10.3.0.0/16'), others)).toBeUndefined();
    expect(findOverlap(c('10.3.0.0/16'), [])).toBeUndefined();
  });
});

describe('properties', () => {
  const size = (prefix: number) => 2 ** (32 - prefix);
  /** The blocks Azure refuses, restated here as first/last pairs. */
  const RESERVED: [number, number][] = [
    [0, 2 ** 24 - 1],
    [127 * 2 ** 24, 128 * 2 ** 24 - 1],
    [169 * 2 ** 24 + 254 * 2 ** 16, 169 * 2 ** 24 + 255 * 2 ** 16 - 1],
    [168 * 2 ** 24 + 63 * 2 ** 16 + 129 * 256 + 16, 168 * 2 ** 24 + 63 * 2 ** 16 + 129 * 256 + 16],
    [224 * 2 ** 24, 2 ** 32 - 1],
  ];
  const aligned = (address: number, prefix: number) => address - (address % size(prefix));
  /** Valid spaces, half of them crowded into 10.0.0.0/14 so that overlaps are common. */
  const cidrArb = fc
    .tuple(
      fc.oneof(
        fc.integer({ min: 0x01000000, max: 0x7effffff }),
        fc.integer({ min: 0x0a000000, max: 0x0a03ffff }),
      ),
      fc.integer({ min: 8, max: 26 }),
    )
    .map(([address, prefix]) => parseCidr(`${ip(aligned(address, prefix))}/${prefix}`));

  it('parses every aligned space into the range it covers, or refuses it for meeting a reserved block', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** 32 - 1 }),
        fc.integer({ min: 8, max: 26 }),
        (address, prefix) => {
          const base = aligned(address, prefix);
          const last = base + size(prefix) - 1;
          const text = `${ip(base)}/${prefix}`;
          if (RESERVED.some(([lo, hi]) => base <= hi && lo <= last)) {
            expect(refusal(text).message).toMatch(/which Azure does not allow in a VNet$/);
          } else {
            expect(parseCidr(text)).toEqual({ text, base, prefix, first: base, last });
          }
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('refuses host bits and suggests the aligned space', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0x01000000, max: 0x7effffff }),
        fc.integer({ min: 8, max: 26 }),
        (a, p) => {
          fc.pre(a % size(p) !== 0);
          const suggestion = `${ip(aligned(a, p))}/${p}`;
          expect(refusal(`${ip(a)}/${p}`).message).toContain(`did you mean ${suggestion}?`);
          expect(parseCidr(suggestion).first).toBeLessThan(a);
        },
      ),
    );
  });

  it('overlaps symmetrically, and every space overlaps itself', () => {
    fc.assert(
      fc.property(cidrArb, cidrArb, (a, b) => {
        expect(overlaps(a, b)).toBe(overlaps(b, a));
        expect(overlaps(a, a)).toBe(true);
      }),
    );
  });

  it('overlaps exactly when the ranges share an address, which for CIDRs means one contains the other', () => {
    fc.assert(
      fc.property(cidrArb, cidrArb, (a, b) => {
        const shared = Math.max(a.first, b.first) <= Math.min(a.last, b.last);
        const [wide, narrow] = a.prefix <= b.prefix ? [a, b] : [b, a];
        const nested =
          Math.floor(narrow.base / size(wide.prefix)) === Math.floor(wide.base / size(wide.prefix));
        expect(overlaps(a, b)).toBe(shared);
        expect(overlaps(a, b)).toBe(nested);
      }),
      { numRuns: 2000 },
    );
  });

  it('finds the first overlapping space or none', () => {
    fc.assert(
      fc.property(cidrArb, fc.array(cidrArb, { maxLength: 6 }), (candidate, spaces) => {
        const others = spaces.map((cidr, i) => ({ owner: `Bank ${i}`, cidr }));
        const index = spaces.findIndex(
          (s) => Math.max(candidate.first, s.first) <= Math.min(candidate.last, s.last),
        );
        expect(findOverlap(candidate, others)).toBe(index < 0 ? undefined : others[index]);
      }),
    );
  });
});
