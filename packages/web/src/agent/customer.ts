/** The customer's name from the conversation's metadata when the application put one there, else their id. */
export function customerName(item: { customerId: string; metadata: Record<string, unknown> }): string {
  const name = item.metadata.customerName ?? item.metadata.name;
  return typeof name === 'string' && name.length > 0 ? name : item.customerId;
}
