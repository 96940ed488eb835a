import { describe, expect, it } from 'vitest';
import { toParleyError } from '../src/core/errors.js';

describe('toParleyError', () => {
  it('maps unreachable dependencies to unavailable and the rest to internal', async () => {
    expect(toParleyError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }))).toMatchObject({ code: 'unavailable', retryable: true, retryAfterMs: 1000 });
    expect(toParleyError(Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' })).code).toBe('unavailable');
    expect(toParleyError(new Error('Connection terminated unexpectedly')).code).toBe('unavailable');
    expect(toParleyError(Object.assign(new Error('duplicate key'), { code: '23505' })).code).toBe('internal');
    expect(toParleyError('weird').code).toBe('internal');
  });
});
