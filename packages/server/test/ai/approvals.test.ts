import { describe, expect, it } from 'vitest';
import { Approvals } from '../../src/ai/approvals.js';

const key = { tenant: 'acme', conversationId: 'c' };

describe('Approvals', () => {
  it('does not wait when the generation is already stopped', async () => {
    const approvals = new Approvals();
    const controller = new AbortController();
    controller.abort('stopped');
    expect(await approvals.wait(key, 'a1', 60_000, controller.signal)).toBe(false);
    await expect(approvals.resolve(key, 'a1', true, async () => undefined)).rejects.toMatchObject({ code: 'not_found' });
  });

  it('decides nothing when recording the decision fails, so it can be sent again', async () => {
    const approvals = new Approvals();
    const waiting = approvals.wait(key, 'a2', 60_000, new AbortController().signal);
    await expect(
      approvals.resolve(key, 'a2', true, async () => {
        throw new Error('store blip');
      }),
    ).rejects.toThrow('store blip');
    expect(await approvals.resolve(key, 'a2', true, async () => undefined)).toEqual({ approved: true, duplicate: false });
    expect(await waiting).toBe(true);
    expect(await approvals.resolve(key, 'a2', false, async () => undefined)).toEqual({ approved: true, duplicate: true });
  });

  it('answers concurrent decisions with the first one, recorded once', async () => {
    const approvals = new Approvals();
    const waiting = approvals.wait(key, 'a3', 60_000, new AbortController().signal);
    let records = 0;
    const record = async () => {
      records++;
      await new Promise((resolve) => setTimeout(resolve, 20));
    };
    const decisions = await Promise.all([approvals.resolve(key, 'a3', false, record), approvals.resolve(key, 'a3', true, record), approvals.resolve(key, 'a3', true, record)]);
    expect(decisions).toEqual([
      { approved: false, duplicate: false },
      { approved: false, duplicate: true },
      { approved: false, duplicate: true },
    ]);
    expect(records).toBe(1);
    expect(await waiting).toBe(false);
  });
});
