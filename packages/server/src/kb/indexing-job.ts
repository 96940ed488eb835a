import type { QueuedJob } from '../core/ports.js';

/** Indexing of one version of one knowledge-base document, serializable so that any worker node can take it. */
export interface IndexingJob extends QueuedJob {
  /** `<documentId>:<version>`: a version is indexed once. */
  id: string;
  /** `kb:<documentId>`: the queue runs jobs of one document one at a time, in order. */
  conversationId: string;
  documentId: string;
  version: number;
}

/** The job that indexes `version` of the document. */
export function indexingJob(tenant: string, documentId: string, version: number): IndexingJob {
  return { id: `${documentId}:${version}`, tenant, conversationId: `kb:${documentId}`, documentId, version };
}

/** Whether a value read back from a shared queue is a well-formed indexing job. */
export function isIndexingJob(value: unknown): value is IndexingJob {
  const job = value as Partial<IndexingJob> | null;
  return (
    typeof job === 'object' && job !== null && typeof job.id === 'string' && typeof job.tenant === 'string' &&
    typeof job.conversationId === 'string' && typeof job.documentId === 'string' && Number.isInteger(job.version)
  );
}
