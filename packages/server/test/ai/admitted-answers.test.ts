import { describe, expect, it } from 'vitest';
import { eventually } from '../../../../test/support/eventually.js';
import { AdmittedAnswers } from '../../src/ai/admitted-answers.js';
import { answerJobId } from '../../src/ai/answer-reaction.js';
import type { JobReservation } from '../../src/core/ports.js';

const key = { tenant: 'acme', conversationId: 'c1' };
const answer = (reservation: JobReservation) => ({ reservation, profileId: 'p', admittedAt: 1 });

describe('AdmittedAnswers', () => {
  it('hands a reservation over once, by conversation and seq', () => {
    const cancelled: JobReservation[] = [];
    const admitted = new AdmittedAnswers(60_000, (reservation) => cancelled.push(reservation));
    const reservation = { key };
    admitted.hold(key, 2, answer(reservation));
    expect(admitted.take(key, 3)).toBeUndefined();
    expect(admitted.take({ tenant: 'other', conversationId: 'c1' }, 2)).toBeUndefined();
    expect(admitted.take(key, 2)?.reservation).toBe(reservation);
    expect(admitted.take(key, 2)).toBeUndefined();
    admitted.clear();
    expect(cancelled).toEqual([]);
  });

  it('gives back a reservation nobody took within the hold, and every one still held at shutdown', async () => {
    const cancelled: JobReservation[] = [];
    const expiring = new AdmittedAnswers(20, (reservation) => cancelled.push(reservation));
    const late = { key };
    expiring.hold(key, 2, answer(late));
    await eventually(() => expect(cancelled).toEqual([late]));
    expect(expiring.take(key, 2)).toBeUndefined();
    const stopping = new AdmittedAnswers(60_000, (reservation) => cancelled.push(reservation));
    const held = { key };
    stopping.hold(key, 5, answer(held));
    stopping.clear();
    expect(cancelled).toEqual([late, held]);
  });
});

describe('answerJobId', () => {
  it('is the same UUID-shaped id for the same message, and differs between messages', () => {
    const id = answerJobId(key, 7);
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(answerJobId({ ...key }, 7)).toBe(id);
    expect(answerJobId(key, 8)).not.toBe(id);
    expect(answerJobId({ tenant: 'acme', conversationId: 'c2' }, 7)).not.toBe(id);
  });
});
