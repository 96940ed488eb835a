import type { ParleyError } from '../../core/errors.js';

/** An error as the AI SDK shows it (`errorText`): the code first, so that a program can read it. */
export function errorText(error: ParleyError): string {
  return `${error.code}: ${error.message}`;
}
