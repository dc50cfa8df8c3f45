/**
 * A bounded set of the most recent event ids, used to drop an event delivered twice
 * (for instance replayed after a reconnect that raced a live delivery).
 */
export class RecentIds {
  private readonly ids = new Set<string>();
  private readonly order: string[] = [];
  private next = 0;

  constructor(readonly capacity = 512) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError('capacity must be a positive integer');
  }

  get size(): number {
    return this.ids.size;
  }

  has(id: string): boolean {
    return this.ids.has(id);
  }

  /**
   * Records an id. Returns false when it was already among the recent ids (a duplicate),
   * true when it is new. The oldest id is forgotten when the set is full.
   */
  add(id: string): boolean {
    if (this.ids.has(id)) return false;
    if (this.order.length < this.capacity) {
      this.order.push(id);
    } else {
      this.ids.delete(this.order[this.next]!);
      this.order[this.next] = id;
      this.next = (this.next + 1) % this.capacity;
    }
    this.ids.add(id);
    return true;
  }

  clear(): void {
    this.ids.clear();
    this.order.length = 0;
    this.next = 0;
  }
}
