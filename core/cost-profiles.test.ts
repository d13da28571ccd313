import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import fc from 'fast-check';
import {
  CostProfilesError,
  DEFAULT_COST_PROFILES,
  PROFILE_ORDER,
  hourlyCost,
  isProfileName,
  maxProfile,
  profileAbove,
  profileBelow,
  profileRank,
  resolveCostProfiles,
} from './cost-profiles';

/** All schemas compiled as runtime/schemas.ts does (strict), so a schema ajv would refuse fails here. */
function schema(id: string) {
  const ajv = new Ajv2020({ allErrors: true, strict: true, strictRequired: false, allowUnionTypes: true });
  addFormats(ajv);
  const dir = join(__dirname, '..', 'schemas');
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.schema.json'))) {
    ajv.addSchema(JSON.parse(readFileSync(join(dir, f), 'utf8')) as object);
  }
  return ajv.getSchema(id)!;
}

function problemsOf(fn: () => unknown) {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(CostProfilesError);
    expect((e as CostProfilesError).code).toBe('COST_PROFILES.INVALID');
    return (e as CostProfilesError).problems;
  }
  throw new Error('expected CostProfilesError');
}

describe('default cost profiles', () => {
  it('are the reference architecture: Small 2 VMs no monitoring, Medium 7 and Large 15 with monitoring', () => {
    const p = DEFAULT_COST_PROFILES.profiles;
    expect([p.Small.vmCount, p.Medium.vmCount, p.Large.vmCount]).toEqual([2, 7, 15]);
    expect([p.Small.monitoring, p.Medium.monitoring, p.Large.monitoring]).toEqual([false, true, true]);
    expect(p.Small.capacityTpm).toBeLessThan(p.Medium.capacityTpm);
    expect(p.Medium.capacityTpm).toBeLessThan(p.Large.capacityTpm);
    expect(DEFAULT_COST_PROFILES.vmSize).toBe('Standard_D4s_v5');
    expect(DEFAULT_COST_PROFILES.currency).toBe('USD');
  });

  it('price an hour as VMs plus monitoring when it is on', () => {
    expect(hourlyCost(DEFAULT_COST_PROFILES, 'Small')).toBeCloseTo(2 * 0.192, 10);
    expect(hourlyCost(DEFAULT_COST_PROFILES, 'Medium')).toBeCloseTo(7 * 0.192 + 0.096, 10);
    expect(hourlyCost(DEFAULT_COST_PROFILES, 'Large')).toBeCloseTo(15 * 0.192 + 0.096, 10);
  });

  it('cannot be changed in place', () => {
    expect(() => {
      (DEFAULT_COST_PROFILES.profiles.Large as { vmCount: number }).vmCount = 1;
    }).toThrow(TypeError);
  });
});

describe('profile order', () => {
  it('ranks Small < Medium < Large and steps one at a time', () => {
    expect(PROFILE_ORDER.map(profileRank)).toEqual([0, 1, 2]);
    expect(profileAbove('Small')).toBe('Medium');
    expect(profileAbove('Medium')).toBe('Large');
    expect(profileAbove('Large')).toBeUndefined();
    expect(profileBelow('Large')).toBe('Medium');
    expect(profileBelow('Medium')).toBe('Small');
    expect(profileBelow('Small')).toBeUndefined();
    expect(maxProfile('Small', 'Large')).toBe('Large');
    expect(maxProfile('Medium', 'Small')).toBe('Medium');
    expect(isProfileName('Medium')).toBe(true);
    expect(isProfileName('medium')).toBe(false);
    expect(() => profileRank('Huge' as never)).toThrow(RangeError);
  });
});

describe('resolveCostProfiles', () => {
  it('returns the defaults without an override', () => {
    expect(resolveCostProfiles()).toEqual(DEFAULT_COST_PROFILES);
    expect(resolveCostProfiles({})).toEqual(DEFAULT_COST_PROFILES);
    expect(resolveCostProfiles(null)).toEqual(DEFAULT_COST_PROFILES);
  });

  it('merges a partial override onto the defaults, field by field', () => {
    const r = resolveCostProfiles({
      currency: 'EUR',
      vmHourlyPrice: 0.12,
      profiles: { Medium: { vmCount: 6 }, Large: { monitoring: false, capacityTpm: 9000 } },
    });
    expect(r.currency).toBe('EUR');
    expect(r.vmHourlyPrice).toBe(0.12);
    expect(r.vmSize).toBe('Standard_D4s_v5');
    expect(r.monitoringHourlyPerMember).toBe(0.096);
    expect(r.profiles.Small).toEqual(DEFAULT_COST_PROFILES.profiles.Small);
    expect(r.profiles.Medium).toEqual({ name: 'Medium', vmCount: 6, monitoring: true, capacityTpm: 2100 });
    expect(r.profiles.Large).toEqual({ name: 'Large', vmCount: 15, monitoring: false, capacityTpm: 9000 });
    expect(hourlyCost(r, 'Large')).toBeCloseTo(15 * 0.12, 10);
    // the defaults are untouched
    expect(DEFAULT_COST_PROFILES.profiles.Medium.vmCount).toBe(7);
  });

  it('lists every problem with its JSON pointer', () => {
    const problems = problemsOf(() =>
      resolveCostProfiles({
        currency: 'usd',
        vmHourlyPrice: -1,
        monitoringHourlyPerMember: Number.NaN,
        vmSize: 'D4s',
        profiles: {
          Small: { vmCount: 0 },
          Medium: { capacityTpm: 0, colour: 'red' } as never,
          Huge: { vmCount: 3 },
        } as never,
        discount: 5,
      } as never),
    );
    expect(problems.map((p) => p.path).sort()).toEqual(
      [
        '/currency',
        '/discount',
        '/monitoringHourlyPerMember',
        '/profiles/Huge',
        '/profiles/Medium/capacityTpm',
        '/profiles/Medium/colour',
        '/profiles/Small/vmCount',
        '/vmHourlyPrice',
        '/vmSize',
      ].sort(),
    );
    for (const p of problems) expect(p.message.length).toBeGreaterThan(5);
  });

  it('refuses an override that breaks the order against the defaults it keeps', () => {
    const problems = problemsOf(() => resolveCostProfiles({ profiles: { Medium: { vmCount: 20 } } }));
    expect(problems).toEqual([{ path: '/profiles/Large/vmCount', message: "must be more than Medium's 20" }]);
    const tpm = problemsOf(() => resolveCostProfiles({ profiles: { Small: { capacityTpm: 2100 } } }));
    expect(tpm).toEqual([
      { path: '/profiles/Medium/capacityTpm', message: "must be more than Small's 2100" },
    ]);
  });

  it('refuses a non-object', () => {
    expect(problemsOf(() => resolveCostProfiles('cheap' as never))).toEqual([
      { path: '', message: 'must be an object' },
    ]);
    expect(problemsOf(() => resolveCostProfiles({ profiles: [] as never }))[0]!.path).toBe('/profiles');
  });
});

describe('schemas/cost-profiles.schema.json', () => {
  const validate = schema('urn:trustnet:schema:cost-profiles');

  it('accepts an override and the empty one, and refuses unknown fields and bad values', () => {
    expect(validate({})).toBe(true);
    expect(validate({ currency: 'EUR', profiles: { Large: { vmCount: 20, capacityTpm: 6000 } } })).toBe(true);
    expect(validate({ profiles: { Huge: {} } })).toBe(false);
    expect(validate({ profiles: { Small: { vmCount: 1.5 } } })).toBe(false);
    expect(validate({ vmHourlyPrice: -0.1 })).toBe(false);
    expect(validate({ discount: 1 })).toBe(false);
  });

  it('agrees with resolveCostProfiles: whatever the schema accepts resolves, or fails only on the order', () => {
    const profile = fc.record(
      {
        vmCount: fc.integer({ min: 1, max: 1000 }),
        monitoring: fc.boolean(),
        capacityTpm: fc.double({ min: 1, max: 1e6, noNaN: true }),
      },
      { requiredKeys: [] },
    );
    const override = fc.record(
      {
        currency: fc.constantFrom('USD', 'EUR', 'GBP'),
        vmHourlyPrice: fc.double({ min: 0, max: 10, noNaN: true }),
        profiles: fc.record({ Small: profile, Medium: profile, Large: profile }, { requiredKeys: [] }),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(override, (o) => {
        expect(validate(o)).toBe(true);
        try {
          const r = resolveCostProfiles(o);
          for (let i = 1; i < 3; i++) {
            const lo = r.profiles[PROFILE_ORDER[i - 1]!];
            const hi = r.profiles[PROFILE_ORDER[i]!];
            expect(hi.vmCount).toBeGreaterThan(lo.vmCount);
            expect(hi.capacityTpm).toBeGreaterThan(lo.capacityTpm);
          }
        } catch (e) {
          for (const p of (e as CostProfilesError).problems) {
            expect(p.path).toMatch(/^\/profiles\/(Medium|Large)\/(vmCount|capacityTpm)$/);
          }
        }
      }),
      { numRuns: 200 },
    );
  });
});
