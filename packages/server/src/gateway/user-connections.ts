/** What the node does to a user's connection on another node's request (server API, membership changes). */
export interface UserSession {
  /** Passes a notice from the tenant's backend to the client. */
  notify(notification: { id: string; ts: number; data: Record<string, unknown> }): void;
  /** Ends the subscription to a conversation the user may no longer read, and tells the client why. */
  revoke(conversationId: string): Promise<void>;
  /** Tells the client why, then closes. */
  close(code: number, reason: string): void;
}

/** The connections of each user on this node (to count them against the limit, and to reach them: notify, disconnect). */
export class UserConnections<Connection> {
  private readonly byUser = new Map<string, Set<Connection>>();

  /** Registers one more connection; false (and nothing registered) when the user is at `limit`. */
  add(tenant: string, userId: string, connection: Connection, limit: number): boolean {
    const key = `${tenant}/${userId}`;
    const connections = this.byUser.get(key);
    if ((connections?.size ?? 0) >= limit) return false;
    if (connections) connections.add(connection);
    else this.byUser.set(key, new Set([connection]));
    return true;
  }

  remove(tenant: string, userId: string, connection: Connection): void {
    const key = `${tenant}/${userId}`;
    const connections = this.byUser.get(key);
    if (connections?.delete(connection) && connections.size === 0) this.byUser.delete(key);
  }

  /** The user's connections on this node (a copy: closing them changes the set). */
  of(tenant: string, userId: string): Connection[] {
    return [...(this.byUser.get(`${tenant}/${userId}`) ?? [])];
  }
}
