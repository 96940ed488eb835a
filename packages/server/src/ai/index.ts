import type { LanguageModelV3 } from '@ai-sdk/provider';
import { readFile } from 'node:fs/promises';
import type { GenerationText } from '@parley/protocol';
import type { ConversationKey } from '../core/types.js';
import type { ConversationLog } from '../log/conversation-log.js';
import { AnswerCache } from './answer-cache.js';
import { Approvals } from './approvals.js';
import { MemoryBudgets, type BudgetLimits } from './budgets.js';
import { demoBackendTools } from './demo-backend.js';
import type { GenerationObserver } from './generation.js';
import { MemoryJobQueue, type JobQueueLimits } from './job-queue.js';
import { createModel } from './models.js';
import { Orchestrator } from './orchestrator.js';
import { defaultProfiles, profilesFileSchema, type AssistantProfile, type DefaultModelSettings, type ModelSpec } from './profiles.js';

export { Orchestrator } from './orchestrator.js';

// Cached answers kept per node, across tenants and profiles.
const ANSWER_CACHE_ENTRIES = 10_000;
export type { AssistantProfile } from './profiles.js';

/** Everything the AI side needs from the node, wired by the composition root. */
export interface AiSettings extends DefaultModelSettings {
  assistantsFile?: string;
  queue: JobQueueLimits;
  budgets: BudgetLimits;
  log: ConversationLog;
  publishDelta: (key: ConversationKey, delta: GenerationText) => void;
  observer: GenerationObserver;
  onError: (error: unknown) => void;
  /** Replaces how model specs become models (tests). */
  createModel?: (spec: ModelSpec) => LanguageModelV3;
}

/** Reads the profiles file, or builds the default profile from the LLM settings. */
export async function loadProfiles(settings: DefaultModelSettings & { assistantsFile?: string }): Promise<AssistantProfile[]> {
  if (!settings.assistantsFile) return defaultProfiles(settings);
  const parsed = profilesFileSchema.safeParse(JSON.parse(await readFile(settings.assistantsFile, 'utf8')));
  if (!parsed.success) {
    throw new Error(`${settings.assistantsFile}: ${parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ')}`);
  }
  return parsed.data.assistants;
}

/** The orchestrator with its queue, the demo backend's tools and the configured profiles. */
export async function createAssistants(settings: AiSettings): Promise<{ orchestrator: Orchestrator; queue: MemoryJobQueue }> {
  const profiles = await loadProfiles(settings);
  const queue = new MemoryJobQueue(settings.queue, settings.onError);
  const tools = new Map(demoBackendTools().map((tool) => [tool.name, tool]));
  const orchestrator = new Orchestrator(
    profiles,
    queue,
    new MemoryBudgets(settings.budgets),
    {
      log: settings.log,
      publishDelta: settings.publishDelta,
      createModel: settings.createModel ?? createModel,
      tools,
      observer: settings.observer,
      answerCache: new AnswerCache(ANSWER_CACHE_ENTRIES),
      approvals: new Approvals(),
    },
    settings.onError,
  );
  return { orchestrator, queue };
}
