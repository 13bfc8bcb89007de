import { EventEmitter } from 'node:events';
import type { RunRow } from './run.ts';

/** In-process notifications of run changes, as the service makes them (metrics and streams follow them). */
export class RunEvents extends EventEmitter<{ change: [RunRow] }> {}
