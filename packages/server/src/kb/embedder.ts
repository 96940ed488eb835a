/** Turns texts into vectors of one fixed dimension; the knowledge base's port to an embedding model. */
export interface Embedder {
  /** A name for logs and the docs' figures (provider and model). */
  readonly name: string;
  /** One vector per text, in order. */
  embed(texts: string[], signal?: AbortSignal): Promise<number[][]>;
}
