import { defineListFuzz } from './helpers/api-list-fuzz.ts';

defineListFuzz(['type', 'status', 'outcome', 'initiator', 'q']);
