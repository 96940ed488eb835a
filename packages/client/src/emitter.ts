/** A callback for one event type. */
export type Listener<T> = (value: T) => void;

/** Receives what a listener threw, with the event type it was listening to. */
export type ListenerErrorHandler = (error: unknown, type: PropertyKey) => void;

/**
 * A small typed event emitter that works the same in browsers and Node. A listener that throws does not
 * stop the others: its error goes to the handler given to the constructor.
 */
export class Emitter<Events extends object> {
  private readonly listeners = new Map<keyof Events, Set<Listener<never>>>();

  constructor(private readonly onListenerError: ListenerErrorHandler) {}

  /** Adds a listener; returns a function that removes it. */
  on<Type extends keyof Events>(type: Type, listener: Listener<Events[Type]>): () => void {
    let set = this.listeners.get(type);
    if (!set) this.listeners.set(type, (set = new Set()));
    set.add(listener as Listener<never>);
    return () => this.off(type, listener);
  }

  /** Removes a listener added with `on`. */
  off<Type extends keyof Events>(type: Type, listener: Listener<Events[Type]>): void {
    this.listeners.get(type)?.delete(listener as Listener<never>);
  }

  /** Calls every listener of `type` with `value`, in the order they were added. */
  emit<Type extends keyof Events>(type: Type, value: Events[Type]): void {
    const set = this.listeners.get(type);
    if (!set) return;
    for (const listener of [...set]) {
      try {
        (listener as Listener<Events[Type]>)(value);
      } catch (error) {
        this.onListenerError(error, type);
      }
    }
  }

  /** How many listeners `type` has. */
  listenerCount(type: keyof Events): number {
    return this.listeners.get(type)?.size ?? 0;
  }
}
