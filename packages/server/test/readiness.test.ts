import { describe, expect, it } from 'vitest';
import { Readiness, type Dependency } from '../src/http/readiness.js';

const up = (name: string, required: boolean): Dependency => ({ name, required, check: async () => undefined });
const down = (name: string, required: boolean, reason = 'connection refused'): Dependency => ({ name, required, check: async () => Promise.reject(new Error(reason)) });

describe('Readiness', () => {
  it('is ready (200) with every dependency up', async () => {
    const report = await new Readiness([up('store', true), up('redis', false)], () => false).report();
    expect(report).toEqual({
      statusCode: 200,
      body: { status: 'ready', draining: false, dependencies: { store: { up: true, required: true }, redis: { up: true, required: false } } },
    });
  });

  it('stays in service (200, degraded) while an optional dependency (Redis) is down, and says so', async () => {
    const report = await new Readiness([up('store', true), down('redis', false)], () => false).report();
    expect(report.statusCode).toBe(200);
    expect(report.body.status).toBe('degraded');
    expect(report.body.dependencies.redis).toEqual({ up: false, required: false, error: 'connection refused' });
  });

  it('is unready (503) while a required dependency (the store) is down', async () => {
    const report = await new Readiness([down('store', true), up('redis', false)], () => false).report();
    expect(report).toMatchObject({ statusCode: 503, body: { status: 'unready', dependencies: { store: { up: false, error: 'connection refused' } } } });
  });

  it('is unready (503) while draining, with the dependencies still reported', async () => {
    const report = await new Readiness([up('store', true)], () => true).report();
    expect(report).toEqual({ statusCode: 503, body: { status: 'draining', draining: true, dependencies: { store: { up: true, required: true } } } });
  });

  it('counts a dependency that does not answer in time as down', async () => {
    const silent: Dependency = { name: 'store', required: true, check: () => new Promise(() => undefined) };
    const report = await new Readiness([silent], () => false, 1).report();
    expect(report).toMatchObject({ statusCode: 503, body: { dependencies: { store: { up: false, error: 'no answer within 1 ms' } } } });
  });

  it('shares the checks under way between concurrent callers', async () => {
    let checks = 0;
    const counted: Dependency = { name: 'store', required: true, check: async () => void checks++ };
    const readiness = new Readiness([counted], () => false);
    await Promise.all([readiness.report(), readiness.report(), readiness.states()]);
    expect(checks).toBe(1);
    await readiness.report();
    expect(checks).toBe(2);
  });
});
