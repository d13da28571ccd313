import fc from 'fast-check';
import { formatLegalName, LegalNameError, parseLegalName, sameLegalName, type LegalName } from './x500';

const BANK_C: LegalName = { O: 'Bank C', L: 'Paris', C: 'FR' };

describe('parseLegalName', () => {
  it.each<[string, LegalName]>([
    ['O=Bank C, L=Paris, C=FR', BANK_C],
    ['O=Bank C,L=Paris,C=FR', BANK_C],
    ['O=Bank C,   L=Paris,  C=FR', BANK_C],
    ['  O=Bank C, L=Paris, C=FR  ', BANK_C],
    ['o=Bank C, l=Paris, c=FR', BANK_C],
    ['C=FR, L=Paris, O=Bank C', BANK_C],
    [
      'CN=Notary, OU=Operations, O=Bank C, L=Paris, ST=Île-de-France, C=FR',
      { CN: 'Notary', OU: 'Operations', O: 'Bank C', L: 'Paris', ST: 'Île-de-France', C: 'FR' },
    ],
    [
      'ou=Treasury, O=Société Générale, L=Paris, C=FR',
      { OU: 'Treasury', O: 'Société Générale', L: 'Paris', C: 'FR' },
    ],
    ['O=AB, L=NY, C=US, CN=x', { O: 'AB', L: 'NY', C: 'US', CN: 'x' }],
    [`O=${'a'.repeat(128)}, L=${'b'.repeat(64)}, C=GB`, { O: 'a'.repeat(128), L: 'b'.repeat(64), C: 'GB' }],
    [`O=Bank C, L=Paris, C=FR, OU=${'u'.repeat(64)}`, { ...BANK_C, OU: 'u'.repeat(64) }],
    [
      'O=Bank & Co. (Europe) 2, L=Frankfurt am Main, C=DE',
      { O: 'Bank & Co. (Europe) 2', L: 'Frankfurt am Main', C: 'DE' },
    ],
  ])('parses %j', (text, expected) => {
    expect(parseLegalName(text)).toEqual(expected);
  });

  it('leaves optional attributes out rather than undefined', () => {
    expect(Object.keys(parseLegalName('C=FR, O=Bank C, L=Paris'))).toEqual(['O', 'L', 'C']);
  });

  it.each<[string, string]>([
    ['', 'a legal name is required, such as O=Bank C, L=Paris, C=FR'],
    ['   ', 'a legal name is required, such as O=Bank C, L=Paris, C=FR'],
    ['O=Bank C, L=Paris', 'missing C: a legal name needs O, L and C'],
    ['L=Paris, C=FR', 'missing O: a legal name needs O, L and C'],
    ['CN=Notary', 'missing O, L, C: a legal name needs O, L and C'],
    ['O=Bank C, L=Paris, C=FR, X=1', 'unknown attribute "X"; allowed are CN, OU, O, L, ST, C'],
    ['O=Bank C, L=Paris, C=FR, dc=corda', 'unknown attribute "dc"; allowed are CN, OU, O, L, ST, C'],
    ['O =Bank C, L=Paris, C=FR', 'unknown attribute "O "; allowed are CN, OU, O, L, ST, C'],
    ['O=Bank C, o=Bank D, L=Paris, C=FR', 'attribute O appears more than once'],
    ['O=Bank C, L=Paris, C=FR, C=DE', 'attribute C appears more than once'],
    ['O=Bank C, L=Paris, C=FR,', 'empty attribute: check for a stray comma'],
    ['O=Bank C, L=Paris C=FR', 'L value "Paris C=FR" contains the forbidden character ='],
    [
      'O=Bank, Inc, L=Paris, C=FR',
      '"Inc" is not an attribute of the form KEY=value (values cannot contain commas)',
    ],
    [
      'O=Bank C, L=Paris, C=fr',
      'C must be a two-letter upper-case ISO 3166-1 country code such as FR, got "fr"',
    ],
    [
      'O=Bank C, L=Paris, C=FRA',
      'C must be a two-letter upper-case ISO 3166-1 country code such as FR, got "FRA"',
    ],
    ['O=Bank C, L=Paris, C=', 'C must be a two-letter upper-case ISO 3166-1 country code such as FR, got ""'],
    ['O=B, L=Paris, C=FR', 'O must be 2 to 128 characters long, got 1'],
    [`O=${'a'.repeat(129)}, L=Paris, C=FR`, 'O must be 2 to 128 characters long, got 129'],
    ['O=, L=Paris, C=FR', 'O must not be empty'],
    ['O=Bank C, L=P, C=FR', 'L must be 2 to 64 characters long, got 1'],
    [`O=Bank C, L=${'p'.repeat(65)}, C=FR`, 'L must be 2 to 64 characters long, got 65'],
    ['OU=, O=Bank C, L=Paris, C=FR', 'OU must not be empty'],
    ['ST=, O=Bank C, L=Paris, C=FR', 'ST must not be empty'],
    [`CN=${'n'.repeat(65)}, O=Bank C, L=Paris, C=FR`, 'CN must be 1 to 64 characters long, got 65'],
    ['O=Bank C , L=Paris, C=FR', 'O value "Bank C " has leading or trailing whitespace'],
    ['O= Bank C, L=Paris, C=FR', 'O value " Bank C" has leading or trailing whitespace'],
    ['O=Bank C, L=\tParis, C=FR', 'L value "\\tParis" has leading or trailing whitespace'],
    ['O=Bank$C, L=Paris, C=FR', 'O value "Bank$C" contains the forbidden character $'],
    ['O=Bank "C", L=Paris, C=FR', 'O value "Bank \\"C\\"" contains the forbidden character "'],
    ["O=Bank C, L=Paris, C=FR, OU=Ops'", 'OU value "Ops\'" contains the forbidden character \''],
    ['O=Bank\\C, L=Paris, C=FR', 'O value "Bank\\\\C" contains the forbidden character \\'],
    ['O=Bank C, L=Paris, C=FR, CN=a=b', 'CN value "a=b" contains the forbidden character ='],
    ['O=Bank\tC, L=Paris, C=FR', 'O value "Bank\\tC" contains a control character'],
    ['O=Bank\u0000C, L=Paris, C=FR', 'O value "Bank\\u0000C" contains a control character'],
    ['O=Bank\u0085C, L=Paris, C=FR', 'O value "Bank\u0085C" contains a control character'],
  ])('refuses %j', (text, message) => {
    let caught: unknown;
    try {
      parseLegalName(text);
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(LegalNameError);
    expect((caught as LegalNameError).message).toBe(message);
    expect((caught as LegalNameError).code).toBe('NAME.INVALID');
  });
});

describe('formatLegalName', () => {
  it('writes the attributes in Corda order', () => {
    expect(formatLegalName({ C: 'FR', L: 'Paris', O: 'Bank C' })).toBe('O=Bank C, L=Paris, C=FR');
    expect(
      formatLegalName({
        ST: 'Île-de-France',
        C: 'FR',
        CN: 'Notary',
        L: 'Paris',
        O: 'Bank C',
        OU: 'Operations',
      }),
    ).toBe('CN=Notary, OU=Operations, O=Bank C, L=Paris, ST=Île-de-France, C=FR');
  });

  it('normalises key case and spacing through a parse', () => {
    expect(formatLegalName(parseLegalName('c=FR,o=Bank C,   l=Paris'))).toBe('O=Bank C, L=Paris, C=FR');
  });
});

describe('sameLegalName', () => {
  it.each<[string, string, boolean]>([
    ['O=Bank C, L=Paris, C=FR', 'O=Bank C, L=Paris, C=FR', true],
    ['O=Bank C, L=Paris, C=FR', 'O=BANK c, L=paris, C=FR', true],
    ['O=Bank C, L=Paris, C=FR', 'O=Bank   C, L=Paris, C=FR', true],
    ['O=Société Générale, L=Paris, C=FR', 'O=SOCIÉTÉ GÉNÉRALE, L=Paris, C=FR', true],
    ['O=Bank C, L=Straße, C=DE', 'O=Bank C, L=STRASSE, C=DE', true],
    ['O=Bank C, L=Paris, C=FR', 'O=BankC, L=Paris, C=FR', false],
    ['O=Bank C, L=Paris, C=FR', 'O=Bank D, L=Paris, C=FR', false],
    ['O=Bank C, L=Paris, C=FR', 'O=Bank C, L=Lyon, C=FR', false],
    ['O=Bank C, L=Paris, C=FR', 'O=Bank C, L=Paris, C=BE', false],
    ['O=Bank C, L=Paris, C=FR', 'OU=Ops, O=Bank C, L=Paris, C=FR', false],
    ['OU=Ops, O=Bank C, L=Paris, C=FR', 'OU=ops, O=Bank C, L=Paris, C=FR', true],
    ['OU=Ops, O=Bank C, L=Paris, C=FR', 'CN=Ops, O=Bank C, L=Paris, C=FR', false],
  ])('%j vs %j: %s', (a, b, expected) => {
    expect(sameLegalName(parseLegalName(a), parseLegalName(b))).toBe(expected);
    expect(sameLegalName(parseLegalName(b), parseLegalName(a))).toBe(expected);
  });
});

describe('properties', () => {
  // Single UTF-16 code unit each, so generated lengths are the lengths Corda counts.
  const CHARS = [...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .-&()/éÉüßñ中'];
  const value = (min: number, max: number) =>
    fc
      .string({ unit: fc.constantFrom(...CHARS), minLength: min, maxLength: max })
      .filter((s) => s.trim() === s);
  const upper = fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZ');
  const nameArb: fc.Arbitrary<LegalName> = fc.record(
    {
      O: value(2, 128),
      L: value(2, 64),
      C: fc.tuple(upper, upper).map(([a, b]) => a + b),
      OU: value(1, 64),
      ST: value(1, 64),
      CN: value(1, 64),
    },
    { requiredKeys: ['O', 'L', 'C'] },
  );

  it('parses what it formats', () => {
    fc.assert(
      fc.property(nameArb, (name) => {
        expect(parseLegalName(formatLegalName(name))).toEqual(name);
      }),
    );
  });

  it('accepts attributes in any order, with any key case and separator spacing', () => {
    fc.assert(
      fc.property(
        nameArb.chain((name) =>
          fc.tuple(
            fc.constant(name),
            fc.shuffledSubarray(Object.entries(name), { minLength: Object.keys(name).length }),
            fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 3 })), { minLength: 6, maxLength: 6 }),
          ),
        ),
        ([name, entries, styles]) => {
          const text = entries
            .map(([k, v], i) => {
              const [lower, spaces] = styles[i] ?? [false, 0];
              return `${' '.repeat(spaces)}${lower ? k.toLowerCase() : k}=${v}`;
            })
            .join(',');
          expect(parseLegalName(text)).toEqual(name);
        },
      ),
    );
  });

  it('treats a name as the same as itself with its case and spacing changed', () => {
    fc.assert(
      fc.property(nameArb, (name) => {
        const shouted = Object.fromEntries(
          Object.entries(name).map(([k, v]) => [k, (v as string).toUpperCase().replace(/ /g, '  ')]),
        ) as unknown as LegalName;
        expect(sameLegalName(name, name)).toBe(true);
        expect(sameLegalName(name, shouted)).toBe(true);
      }),
    );
  });
});
