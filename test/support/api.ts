import type { TestServer } from './server.js';
import { DATABASE_URL } from './postgres.js';

/** A call of the server API; resolves with the status, the headers and the parsed body (null when empty). */
export async function apiCall(server: TestServer, credential: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(`${server.url}/v1/api${path}`, {
    method,
    headers: { authorization: `Bearer ${credential}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const raw = await response.text();
  return { status: response.status, headers: response.headers, body: raw ? JSON.parse(raw) : null };
}

/** The test database's URL with an application name, so that a test can find the sessions a killed node left. */
export function databaseUrlOf(applicationName: string): string {
  return `${DATABASE_URL}${DATABASE_URL.includes('?') ? '&' : '?'}application_name=${applicationName}`;
}
