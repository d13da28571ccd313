import type { DurableClient } from 'durable-functions';
import type { InvocationContext } from '@azure/functions';
import type { Member } from '../core/membership';
import type { NotificationEventInput } from '../core/notifications';

/** The registry's members as the test sets them; `null` makes the read fail. Every read is counted. */
let members: Member[] | null = [];
let memberReads = 0;
jest.mock('../functions/edge/services', () => ({
  getConsortium: () => ({ name: 'Test', members: [] }),
  getRegistry: async () => ({
    allMembers: async () => {
      memberReads++;
      if (!members) throw new Error('the registry did not answer');
      return members;
    },
  }),
}));
jest.mock('./vaults', () => ({
  platformVault: () => ({ readSecret: async () => undefined, setSecret: async () => {} }),
}));

import { DELIVER_ORCHESTRATOR, notify, PLANNING_DELIVER_ORCHESTRATOR, type PlannedEvent } from './notify';

const bank = (id: string): Member =>
  ({
    id,
    status: 'ACTIVE',
    legalName: `O=${id}, L=London, C=GB`,
    contacts: { email: [`ops@${id}.example`] },
  }) as Member;

/** A durable client that records what `notify` asks of it; `existing` instances are there already. */
function client(existing: string[] = []) {
  const calls: { getStatus: string[]; startNew: { name: string; instanceId: string; input: unknown }[] } = {
    getStatus: [],
    startNew: [],
  };
  const fake = {
    getStatus: async (id: string) => {
      calls.getStatus.push(id);
      return existing.includes(id) ? { runtimeStatus: 'Completed' } : undefined;
    },
    startNew: async (name: string, options: { instanceId: string; input: unknown }) => {
      calls.startNew.push({ name, ...options });
      return options.instanceId;
    },
  };
  return { durable: fake as unknown as DurableClient, calls };
}

const warnings: string[] = [];
const context = { warn: (m: string) => warnings.push(m) } as unknown as InvocationContext;

/** bank-b's receipt for its vote: the voter is the only recipient. */
const receipt: NotificationEventInput = {
  kind: 'vote.cast',
  at: '2026-12-07T10:00:00.000Z',
  ballot: {
    kind: 'request',
    id: '6f1c2d1e-1b7a-4d43-9a52-1f6f3b7e2a10',
    applicant: { id: 'bank-d', legalName: 'O=Bank D, L=Paris, C=FR' },
  },
  voter: 'bank-b',
  decision: 'approve',
  reason: 'ok',
  tally: { approve: 1, reject: 0, eligible: 3, required: 2 },
  deadline: '2026-12-14T10:00:00.000Z',
};

describe('notify: planning before the delivery starts', () => {
  const endpoint = process.env['TRUSTNET_EMAIL_ENDPOINT'];
  beforeEach(() => {
    members = [bank('bank-a'), bank('bank-b'), bank('bank-c')];
    memberReads = 0;
    warnings.length = 0;
    process.env['TRUSTNET_EMAIL_ENDPOINT'] = 'https://trustnet.europe.communication.azure.com';
  });
  afterAll(() => {
    if (endpoint === undefined) delete process.env['TRUSTNET_EMAIL_ENDPOINT'];
    else process.env['TRUSTNET_EMAIL_ENDPOINT'] = endpoint;
  });

  it('starts the delivery with the event and its planned deliveries', async () => {
    const { durable, calls } = client();
    await notify(durable, receipt, context);
    expect(calls.startNew).toHaveLength(1);
    const [start] = calls.startNew;
    expect(start!.name).toBe(DELIVER_ORCHESTRATOR);
    expect(calls.getStatus).toEqual([start!.instanceId]);
    const input = start!.input as PlannedEvent;
    expect(input.event).toMatchObject({ kind: 'vote.cast', voter: 'bank-b' });
    expect(input.deliveries).toEqual([
      expect.objectContaining({ channel: 'email', owner: 'bank-b', to: ['ops@bank-b.example'] }),
    ]);
    expect(memberReads).toBe(1);
  });

  it('starts nothing, and asks the durable client nothing, when nobody is to be told on any channel', async () => {
    // No email service and no Teams webhook: the receipt has no channel.
    process.env['TRUSTNET_EMAIL_ENDPOINT'] = '';
    const { durable, calls } = client();
    await notify(durable, receipt, context);
    expect(calls).toEqual({ getStatus: [], startNew: [] });
    expect(warnings).toEqual([]);
  });

  it('starts nothing when the event was started before (a re-run activity, a replay)', async () => {
    const first = client();
    await notify(first.durable, receipt, context);
    const again = client([first.calls.startNew[0]!.instanceId]);
    await notify(again.durable, receipt, context);
    expect(again.calls.startNew).toEqual([]);
  });

  it('plans with the members the caller has just read, without reading them again', async () => {
    const { durable, calls } = client();
    await notify(durable, receipt, context, [bank('bank-b')]);
    expect(memberReads).toBe(0);
    expect((calls.startNew[0]!.input as PlannedEvent).deliveries).toHaveLength(1);
  });

  it('leaves the planning to the orchestration, which retries it, when the plan fails now', async () => {
    members = null;
    const { durable, calls } = client();
    await notify(durable, receipt, context);
    expect(calls.startNew).toEqual([
      expect.objectContaining({
        name: PLANNING_DELIVER_ORCHESTRATOR,
        input: expect.objectContaining({ kind: 'vote.cast', voter: 'bank-b' }),
      }),
    ]);
    expect(warnings).toEqual([expect.stringContaining('the registry did not answer')]);
  });
});
