import type { JSONSchema7 } from '@ai-sdk/provider';
import type { OutboundHttp } from '../net/outbound-http.js';
import { inSpan } from '../observability/tracing.js';
import type { StreamTool, ToolCall } from './model-stream.js';
import type { WebhookToolSpec } from './profiles.js';
import { callWebhook } from './webhook.js';

/** A tool the assistant may call: its JSON schema, a timeout, and how it runs. */
export interface ToolDefinition {
  name: string;
  description: string;
  inputSchema: JSONSchema7;
  timeoutMs: number;
  /** Tenants that may use it; all when absent. */
  tenants?: string[];
  execute(input: Record<string, unknown>, signal: AbortSignal, call: ToolCallContext): Promise<unknown>;
}

/** Who and what a tool call is for: the tenant's backend authorizes with it (the user who asked, for one). */
export interface ToolCallContext {
  tenant: string;
  conversationId: string;
  /** The user whose message the answer is for. */
  userId: string;
  generationId: string;
  toolCallId: string;
}

/** A tool declared in the assistants file, executed as a signed webhook to the tenant's backend through `outbound`. */
export function webhookTool(spec: WebhookToolSpec, outbound: OutboundHttp): ToolDefinition {
  return {
    name: spec.name,
    description: spec.description,
    inputSchema: spec.inputSchema as JSONSchema7,
    timeoutMs: spec.timeoutMs,
    ...(spec.tenants ? { tenants: spec.tenants } : {}),
    execute: (input, signal, call) => callWebhook(outbound, { url: spec.url, secret: spec.secret, timeoutMs: spec.timeoutMs }, { tool: spec.name, input, ...call }, signal),
  };
}

/** What runs around every tool call of a generation. */
export interface ToolHooks {
  /** Decides whether the call may run (approvals); a refused call returns `{error: 'denied'}` to the model. */
  gate(call: ToolCall): Promise<boolean>;
  /** The call ran, taking `seconds`. */
  ran(toolName: string, seconds: number): void;
}

/**
 * Turns tool definitions into the tools of a model stream. A tool that fails or times out returns `{error}`
 * as its result, so the model sees what happened and the generation never hangs on it.
 */
export function toStreamTools(definitions: ToolDefinition[], generationSignal: AbortSignal, hooks: ToolHooks, where: Omit<ToolCallContext, 'toolCallId'>): Map<string, StreamTool> {
  const tools = new Map<string, StreamTool>();
  for (const definition of definitions) {
    tools.set(definition.name, {
      description: definition.description,
      inputSchema: definition.inputSchema,
      run: async (call) => {
        if (!(await hooks.gate(call))) return { error: 'denied', message: `${definition.name} was not approved` };
        // Stopped while waiting for approval: the tool must not run after Stop.
        if (generationSignal.aborted) return { error: 'stopped', message: 'the answer was stopped' };
        const started = performance.now();
        try {
          return await traceTool(definition, call.toolCallId, () => runTool(definition, call.input, generationSignal, { ...where, toolCallId: call.toolCallId }));
        } finally {
          hooks.ran(definition.name, (performance.now() - started) / 1000);
        }
      },
    });
  }
  return tools;
}

/** One `parley.ai.tool` span per call, inside the model call that made it; never the input or output. */
function traceTool(definition: ToolDefinition, toolCallId: string, run: () => Promise<unknown>): Promise<unknown> {
  const attributes = { 'parley.ai.tool.name': definition.name, 'parley.ai.tool.call_id': toolCallId };
  return inSpan('parley.ai.tool', { attributes }, async (span) => {
    const output = await run();
    const error = (output as { error?: unknown } | null)?.error;
    if (typeof error === 'string') span.setAttribute('parley.ai.tool.error', error);
    return output;
  });
}

async function runTool(
  definition: ToolDefinition,
  input: Record<string, unknown>,
  generationSignal: AbortSignal,
  call: ToolCallContext,
): Promise<unknown> {
  const signal = AbortSignal.any([generationSignal, AbortSignal.timeout(definition.timeoutMs)]);
  try {
    // Raced with the signal: a tool that ignores it still cannot hold the generation past its timeout or Stop.
    return await Promise.race([definition.execute(input, signal, call), rejectWhenAborted(signal)]);
  } catch (error) {
    if (generationSignal.aborted) throw error;
    const timedOut = signal.aborted;
    return { error: timedOut ? 'timeout' : 'failed', message: timedOut ? `${definition.name} did not answer within ${definition.timeoutMs} ms` : (error as Error).message };
  }
}

function rejectWhenAborted(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    if (signal.aborted) return reject(signal.reason);
    signal.addEventListener('abort', () => reject(signal.reason), { once: true });
  });
}
