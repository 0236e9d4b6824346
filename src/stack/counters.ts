/**
 * Named counters: every drop reason, every protocol event worth counting. Keys are `layer/kind`
 * (the same keys as parse errors, see `errorKey`), so a drop is traceable to the rule that made it.
 */
export class Counters {
  private readonly values = new Map<string, number>();

  inc(key: string, by = 1): void {
    this.values.set(key, (this.values.get(key) ?? 0) + by);
  }

  get(key: string): number {
    return this.values.get(key) ?? 0;
  }

  /** A sorted plain object, for printing and JSON. */
  snapshot(): Record<string, number> {
    return Object.fromEntries([...this.values.entries()].sort(([a], [b]) => a.localeCompare(b)));
  }
}
