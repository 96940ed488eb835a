/** A dependency of the node, checked for readiness. */
export interface Dependency {
  readonly name: string;
  /**
   * Whether the node is unready while it is down. The store, yes: nothing can be committed. Redis, no: the
   * node still serves its clients from the store, and one Redis blip must not pull every gateway out of the
   * load balancer at once.
   */
  readonly required: boolean;
  /** Resolves when the dependency answers; rejects, saying why, when it does not. */
  check(): Promise<void>;
}

/** One dependency as a readiness report shows it. */
export interface DependencyState {
  up: boolean;
  required: boolean;
  /** Why it is down. */
  error?: string;
}

/** The body of `/readyz`, and its HTTP status: 503 only while draining or while a required dependency is down. */
export interface ReadinessReport {
  statusCode: 200 | 503;
  body: {
    /** ready: all up; degraded: an optional dependency is down (still 200); unready: a required one is down; draining: stopping. */
    status: 'ready' | 'degraded' | 'unready' | 'draining';
    draining: boolean;
    dependencies: Record<string, DependencyState>;
  };
}

// A load balancer's probe gives up after a few seconds: a dependency that has not answered by then is down.
const CHECK_TIMEOUT_MS = 2000;

/** Whether the node should get traffic, and the state of each dependency (for `/readyz` and the metrics). */
export class Readiness {
  /** The checks under way: probes and scrapes that arrive meanwhile share them rather than piling up. */
  private running: Promise<Record<string, DependencyState>> | null = null;

  constructor(
    private readonly dependencies: Dependency[],
    private readonly isDraining: () => boolean,
    private readonly timeoutMs = CHECK_TIMEOUT_MS,
  ) {}

  /** Checks every dependency (each within the timeout) and says whether the node is ready. */
  async report(): Promise<ReadinessReport> {
    const dependencies = await this.states();
    const draining = this.isDraining();
    const states = Object.values(dependencies);
    const unready = states.some((state) => state.required && !state.up);
    const status = draining ? 'draining' : unready ? 'unready' : states.some((state) => !state.up) ? 'degraded' : 'ready';
    return { statusCode: draining || unready ? 503 : 200, body: { status, draining, dependencies } };
  }

  /** Each dependency's state, checked now (or by the check already under way). */
  states(): Promise<Record<string, DependencyState>> {
    this.running ??= this.checkAll().finally(() => (this.running = null));
    return this.running;
  }

  private async checkAll(): Promise<Record<string, DependencyState>> {
    const states = await Promise.all(this.dependencies.map((dependency) => this.checkOne(dependency)));
    return Object.fromEntries(this.dependencies.map((dependency, index) => [dependency.name, states[index]!]));
  }

  private async checkOne(dependency: Dependency): Promise<DependencyState> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${this.timeoutMs} ms`)), this.timeoutMs);
    });
    try {
      await Promise.race([dependency.check(), timeout]);
      return { up: true, required: dependency.required };
    } catch (error) {
      return { up: false, required: dependency.required, error: error instanceof Error ? error.message : String(error) };
    } finally {
      clearTimeout(timer);
    }
  }
}
