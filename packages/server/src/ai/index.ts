import type { LanguageModelV3 } from '@ai-sdk/provider';
import { readFile } from 'node:fs/promises';
import type { GenerationText } from '@parley/protocol';
import { ConfigError } from '../config/config.js';
import type { ApprovalRegistry, Bus, ContextArchive, GenerationTexts, JobQueue, KnowledgeBase, UsageBudgets } from '../core/ports.js';
import type { ConversationKey } from '../core/types.js';
import type { ConversationLog } from '../log/conversation-log.js';
import type { OutboundHttp } from '../net/outbound-http.js';
import { AnswerCache } from './answer-cache.js';
import { Approvals } from './approvals.js';
import { demoBackendTools } from './demo-backend.js';
import type { GenerationDependencies, GenerationObserver } from './generation.js';
import { createModel } from './models.js';
import { Orchestrator } from './orchestrator.js';
import { defaultProfiles, profilesFileSchema, type AssistantProfile, type DefaultModelSettings, type ModelSpec, type WebhookToolSpec } from './profiles.js';
import { webhookTool } from './tools.js';

export { MemoryBudgets } from './budgets.js';
export { Orchestrator } from './orchestrator.js';

// Cached answers kept per node, across tenants and profiles.
const ANSWER_CACHE_ENTRIES = 10_000;
export type { AssistantProfile } from './profiles.js';

/** Everything the AI side needs from the node, wired by the composition root. */
export interface AiSettings extends DefaultModelSettings {
  assistantsFile?: string;
  queue: JobQueue;
  budgets: UsageBudgets;
  log: ConversationLog;
  texts: GenerationTexts;
  approvalRegistry: ApprovalRegistry;
  contexts: ContextArchive;
  /** Calls tool and context webhooks (refusing private addresses the operator has not allowed). */
  outbound: OutboundHttp;
  /** The tenants' knowledge bases, for profiles with a `knowledge` setting. */
  knowledge?: KnowledgeBase;
  /** Reaches generations on other nodes (stop). */
  control: Pick<Bus, 'publishControl' | 'onControl'>;
  publishDelta: (key: ConversationKey, delta: GenerationText) => void;
  observer: GenerationObserver;
  onError: (error: unknown) => void;
  /** Reads a ready attachment's bytes (images users send reach models that take them). */
  attachmentBytes?: GenerationDependencies['attachmentBytes'];
  /** Replaces how model specs become models (tests). */
  createModel?: (spec: ModelSpec) => LanguageModelV3;
}

/** Reads the assistants file (profiles and webhook tools), or builds the default profile from the LLM settings. */
export async function loadAssistantsFile(settings: DefaultModelSettings & { assistantsFile?: string }): Promise<{ profiles: AssistantProfile[]; tools: WebhookToolSpec[] }> {
  const file = settings.assistantsFile;
  if (!file) return { profiles: defaultProfiles(settings), tools: [] };
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(file, 'utf8'));
  } catch (error) {
    throw new ConfigError([`PARLEY_ASSISTANTS_FILE ${file}: ${(error as Error).message}`]);
  }
  const parsed = profilesFileSchema.safeParse(raw);
  if (!parsed.success) throw new ConfigError(parsed.error.issues.map((issue) => `${file}: ${issue.path.join('.')}: ${issue.message}`));
  return { profiles: parsed.data.assistants, tools: parsed.data.tools };
}

/** The orchestrator over the given queue, with the demo backend's tools and the configured profiles. */
export async function createAssistants(settings: AiSettings): Promise<Orchestrator> {
  const { profiles, tools: webhookTools } = await loadAssistantsFile(settings);
  // Webhook tools of the assistants file replace demo tools of the same name.
  const tools = new Map([...demoBackendTools(), ...webhookTools.map((spec) => webhookTool(spec, settings.outbound))].map((tool) => [tool.name, tool]));
  return new Orchestrator(
    profiles,
    settings.queue,
    settings.budgets,
    {
      log: settings.log,
      texts: settings.texts,
      publishDelta: settings.publishDelta,
      createModel: settings.createModel ?? createModel,
      tools,
      observer: settings.observer,
      answerCache: new AnswerCache(ANSWER_CACHE_ENTRIES),
      approvals: new Approvals(),
      approvalRegistry: settings.approvalRegistry,
      contexts: settings.contexts,
      outbound: settings.outbound,
      ...(settings.attachmentBytes ? { attachmentBytes: settings.attachmentBytes } : {}),
      knowledge: settings.knowledge,
    },
    settings.onError,
    settings.control,
  );
}
