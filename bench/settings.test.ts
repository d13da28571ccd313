// The benchmarks' BENCH_* settings: a bad value is refused with the setting's name and the value.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { numberSetting, sizesSetting, SettingError } = require('./settings') as {
  numberSetting: (name: string, fallback: number, o?: { min?: number; whole?: boolean }) => number;
  sizesSetting: (name: string, fallback: number[], o?: { min?: number }) => number[];
  SettingError: new (m: string) => Error;
};

describe('bench settings', () => {
  const saved = { ...process.env };
  afterEach(() => {
    process.env = { ...saved };
  });

  it('answers the fallback when unset or blank, and the value when good', () => {
    delete process.env['BENCH_X'];
    expect(numberSetting('BENCH_X', 16, { min: 1 })).toBe(16);
    process.env['BENCH_X'] = ' ';
    expect(sizesSetting('BENCH_X', [10, 100])).toEqual([10, 100]);
    process.env['BENCH_X'] = '32';
    expect(numberSetting('BENCH_X', 16, { min: 1 })).toBe(32);
    process.env['BENCH_X'] = '0.05';
    expect(numberSetting('BENCH_X', 0.02, { whole: false })).toBe(0.05);
    process.env['BENCH_X'] = '10, 1000';
    expect(sizesSetting('BENCH_X', [1])).toEqual([10, 1000]);
  });

  it.each([
    ['abc', /BENCH_X must be a whole number of at least 1, not "abc"/],
    ['1.5', /whole number/],
    ['0', /at least 1/],
    ['Infinity', /whole number/],
  ])('refuses %j for a count', (value, message) => {
    process.env['BENCH_X'] = value;
    expect(() => numberSetting('BENCH_X', 16, { min: 1 })).toThrow(SettingError);
    expect(() => numberSetting('BENCH_X', 16, { min: 1 })).toThrow(message);
  });

  it.each(['10,x', '10,,100', '0', '-5'])('refuses %j for a list of sizes', (value) => {
    process.env['BENCH_X'] = value;
    expect(() => sizesSetting('BENCH_X', [10])).toThrow(
      new RegExp(`BENCH_X must list whole numbers of at least 1, separated by commas, not "${value}"`),
    );
  });
});
