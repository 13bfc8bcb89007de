#!/usr/bin/env node
// The package's command. Node.js 22.18+ and 24 run the TypeScript sources directly (type
// stripping); Node.js 22.12–22.17 needs a flag, so there the command restarts itself with it.
import { spawn } from 'node:child_process';

if (process.features.typescript) {
  await import('../src/cli/main.ts');
} else {
  const child = spawn(
    process.execPath,
    [
      '--experimental-strip-types',
      '--no-warnings=ExperimentalWarning',
      ...process.execArgv,
      ...process.argv.slice(1),
    ],
    { stdio: 'inherit' },
  );
  // The child owns the work: pass stop requests on and leave with its exit code.
  for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
}
