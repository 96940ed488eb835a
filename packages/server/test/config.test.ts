import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { ConfigError, configWarnings, loadConfig, SETTINGS } from '../src/config/config.js';

/** The problems a ConfigError lists, or [] when the configuration loads. */
function problems(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
    return [];
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
}

describe('PARLEY_PORT and PARLEY_HOST', () => {
  it('are read as PORT and HOST when those are unset', () => {
    expect(loadConfig({ PARLEY_PORT: '9001', PARLEY_HOST: '127.0.0.2' })).toMatchObject({ port: 9001, host: '127.0.0.2' });
  });

  it('are validated like PORT and HOST, and the problem names the variable that was set', () => {
    expect(problems({ PARLEY_PORT: 'abc' })).toEqual([expect.stringMatching(/^PARLEY_PORT="abc": /)]);
    expect(problems({ PARLEY_PORT: '70000' })).toEqual([expect.stringMatching(/^PARLEY_PORT="70000": /)]);
    // Set under both names, each value must be valid, even the one that does not win.
    expect(problems({ PORT: '8080', PARLEY_PORT: 'abc' })).toEqual([expect.stringMatching(/^PARLEY_PORT="abc": /)]);
  });

  it('lose to PORT and HOST, which platforms set, and the difference is warned about', () => {
    expect(loadConfig({ PORT: '8081', PARLEY_PORT: '9001' }).port).toBe(8081);
    expect(configWarnings({ PORT: '8081', PARLEY_PORT: '9001' })).toEqual(['PORT=8081 and PARLEY_PORT=9001 are both set: PORT wins']);
    expect(configWarnings({ PORT: '8081', PARLEY_PORT: '8081' })).toEqual([]);
  });

  it('lose to the flag', () => {
    expect(loadConfig({ PARLEY_PORT: '9001' }, { port: '9002' }).port).toBe(9002);
  });
});

describe('configWarnings', () => {
  it('names an unknown PARLEY_* variable and the closest known one', () => {
    expect(configWarnings({ PARLEY_PROT: '9000' })).toEqual([expect.stringContaining('unknown setting PARLEY_PROT is ignored (did you mean PARLEY_PORT?')]);
    expect(configWarnings({ PARLEY_REDIS_ULR: 'redis://x' })).toEqual([expect.stringContaining('did you mean PARLEY_REDIS_URL?')]);
    expect(configWarnings({ PARLEY_RATE_PER_SEC: '5' })).toEqual([expect.stringContaining('did you mean PARLEY_RATE_PER_SECOND?')]);
  });

  it('says nothing about known settings, their aliases or variables that are not PARLEY_*', () => {
    expect(configWarnings({ PARLEY_REDIS_URL: 'redis://x', PARLEY_PORT: '1', PARLEY_HOST: 'h', PORT: '1', HOST: 'h', DATABASE_URL: 'postgres://x', HOME: '/root' })).toEqual([]);
  });
});

describe('PARLEY_DATABASE_CONNECT_TIMEOUT_MS', () => {
  it('bounds the wait for a PostgreSQL connection by default, and is validated', () => {
    expect(loadConfig({}).databaseConnectTimeoutMs).toBe(10_000);
    expect(problems({ PARLEY_DATABASE_CONNECT_TIMEOUT_MS: '0' })).toEqual([expect.stringMatching(/^PARLEY_DATABASE_CONNECT_TIMEOUT_MS="0": /)]);
  });
});

describe('PARLEY_OIDC_*', () => {
  const oidc = { PARLEY_OIDC_ISSUER: 'https://idp.example/realms/support', PARLEY_OIDC_CLIENT_ID: 'parley-console', PARLEY_OIDC_TENANT: 'acme' };

  it('loads an issuer with its client id, a tenant and a role map', () => {
    expect(loadConfig({ ...oidc, PARLEY_OIDC_ROLE_MAP: 'support-agents=agent, leads=admin,a=b=user' })).toMatchObject({
      oidcIssuer: 'https://idp.example/realms/support',
      oidcScopes: 'openid profile email',
      oidcRoleMap: [['support-agents', 'agent'], ['leads', 'admin'], ['a=b', 'user']],
      oidcDefaultRole: 'none',
    });
  });

  it('needs the client id and exactly one of a fixed tenant and a tenant claim', () => {
    expect(problems({ PARLEY_OIDC_ISSUER: oidc.PARLEY_OIDC_ISSUER, PARLEY_OIDC_TENANT: 'acme' })).toEqual([expect.stringContaining('needs PARLEY_OIDC_CLIENT_ID')]);
    expect(problems({ ...oidc, PARLEY_OIDC_TENANT_CLAIM: 'tid' })).toEqual([expect.stringContaining('exactly one of PARLEY_OIDC_TENANT')]);
    expect(problems({ ...oidc, PARLEY_OIDC_TENANT: '' })).toEqual([expect.stringContaining('exactly one of PARLEY_OIDC_TENANT')]);
    expect(problems({ ...oidc, PARLEY_OIDC_TENANT: '', PARLEY_OIDC_TENANT_CLAIM: 'tid' })).toEqual([]);
  });

  it('refuses plain HTTP except on loopback, scopes without openid, a bad role map, and the same issuer for both kinds of token', () => {
    expect(problems({ ...oidc, PARLEY_OIDC_ISSUER: 'http://idp.example' })).toEqual([expect.stringContaining('must be an https URL')]);
    expect(problems({ ...oidc, PARLEY_OIDC_ISSUER: 'http://127.0.0.1:9000' })).toEqual([]);
    expect(problems({ ...oidc, PARLEY_OIDC_SCOPES: 'profile email' })).toEqual([expect.stringContaining('must include openid')]);
    expect(problems({ ...oidc, PARLEY_OIDC_ROLE_MAP: 'staff=owner' })).toEqual([expect.stringContaining('value=role')]);
    expect(problems({ ...oidc, PARLEY_JWT_ISSUER: oidc.PARLEY_OIDC_ISSUER })).toEqual([expect.stringContaining('must differ')]);
  });
});

describe('the README', () => {
  it('documents every setting in its configuration table, with its default', async () => {
    const readme = await readFile(new URL('../../../README.md', import.meta.url), 'utf8');
    // A row's first cell is the variable, perhaps followed by its alias: `PORT` (or `PARLEY_PORT`).
    const rows = new Map(readme.split('\n').filter((line) => line.startsWith('| `')).map((line) => [line.split('|')[1]!.trim().split(' ')[0]!, line]));
    for (const setting of Object.values(SETTINGS)) {
      const row = rows.get(`\`${setting.env}\``);
      expect(row, setting.env).toBeDefined();
      if (setting.default !== undefined) expect(row, setting.env).toContain(`\`${setting.default}\``);
    }
  });
});

describe('PARLEY_IMAGE_HOSTS', () => {
  it('is a JSON object of tenants (or *) and their image hosts, none by default', () => {
    expect(loadConfig({}).imageHosts).toEqual({});
    expect(loadConfig({ PARLEY_IMAGE_HOSTS: '{"demo": ["Images.Example.com", "*.cdn.example", "127.0.0.1:8080"], "*": ["static.example"]}' }).imageHosts).toEqual({
      demo: ['images.example.com', '*.cdn.example', '127.0.0.1:8080'],
      '*': ['static.example'],
    });
  });

  it('refuses what is not JSON, a tenant that is no identifier and a host that is no host', () => {
    expect(problems({ PARLEY_IMAGE_HOSTS: 'images.example.com' })).toEqual([expect.stringMatching(/^PARLEY_IMAGE_HOSTS=.*must be JSON/)]);
    expect(problems({ PARLEY_IMAGE_HOSTS: '{"a tenant": ["images.example.com"]}' })).toHaveLength(1);
    for (const host of ['https://images.example.com', 'images.example.com/path', '*', 'a*.example.com', '']) {
      expect(problems({ PARLEY_IMAGE_HOSTS: JSON.stringify({ demo: [host] }) }), host).toEqual([expect.stringContaining('must be a host name')]);
    }
  });
});
