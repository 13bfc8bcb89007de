// autocannon ships no types; the benchmark uses a few documented fields of its result.
declare module 'autocannon';
