import { EventEmitter } from 'node:events';
import type { RunRow } from './run.ts';

/**
 * The run changes this process made, as the service makes them: for this process's own metrics
 * (per-process counters). Streams and workers follow every process's changes through the change
 * feed (change-feed.ts) instead.
 */
export class RunEvents extends EventEmitter<{ change: [RunRow] }> {}
