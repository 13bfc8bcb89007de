import { defineListFuzz } from './helpers/api-list-fuzz.ts';

defineListFuzz(['since', 'until', 'limit', 'cursor', 'window']);
