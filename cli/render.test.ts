import { channelsLines, costTable, fieldLines } from './render';

describe('render', () => {
  it('fieldLines flattens nested views and cleans control characters', () => {
    expect(
      fieldLines({ a: 1, b: { c: 'x\u001b[31my', d: null }, e: ['p', 'q'], f: [{ g: true }], h: [] }),
    ).toEqual([
      'a:      1',
      'b.c:    x [31my',
      'b.d:    none',
      'e:      p, q',
      'f[0].g: true',
      'h:      none',
    ]);
  });

  it('channelsLines lists email addresses when the server sends them', () => {
    expect(channelsLines('bank-a', { email: ['a@b.example'], teams: null })).toEqual([
      'Channels of bank-a',
      'email:    a@b.example',
      'teams:    none',
    ]);
    expect(channelsLines('bank-a', undefined)).toEqual(['bank-a has no channels set']);
  });

  it('costTable copes with a body without period or figures', () => {
    expect(costTable({ memberId: 'bank-a', currency: 'EUR' })).toEqual([
      'Cost this month, in EUR',
      'MEMBER  VM-HOURS  MONITORING  TO DATE  PROJECTED  STATIC LARGE   SAVED',
      'bank-a         ?           ?        ?          ?             ?  ? (?%)',
    ]);
  });
});
