import { operationArgsSchemas, type OperationArgs, type OperationInput, type OperationName } from '@parley/protocol';
import { ParleyClientError } from './errors.js';

/** Checks arguments before they are sent (or queued), so mistakes fail at once and locally. */
export function parseArguments<Op extends OperationName>(op: Op, input: OperationInput<Op>): OperationArgs<Op> {
  const parsed = operationArgsSchemas[op].safeParse(input);
  if (parsed.success) return parsed.data as OperationArgs<Op>;
  const problems = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(arguments)'}: ${issue.message}`);
  throw new ParleyClientError('bad_request', `invalid arguments for ${op}: ${problems.join('; ')}`);
}
