/**
 * A small bounded event log: what the stack did and why (address conflicts, DAD results,
 * neighbours becoming unreachable). The newest `capacity` events are kept; a sink may print them.
 */
export interface LogEvent {
  readonly time: number;
  readonly message: string;
}

export class EventLog {
  private readonly events: LogEvent[] = [];

  constructor(
    private readonly capacity = 256,
    private readonly sink?: (event: LogEvent) => void,
  ) {}

  add(time: number, message: string): void {
    const event = { time, message };
    if (this.events.length >= this.capacity) this.events.shift();
    this.events.push(event);
    this.sink?.(event);
  }

  recent(): readonly LogEvent[] {
    return this.events;
  }
}
