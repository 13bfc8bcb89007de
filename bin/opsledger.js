#!/usr/bin/env node
// The package's command. Node.js 22.18+ and 24 run the TypeScript sources directly (type
// stripping); Node.js 22.12–22.17 needs a flag, so there the command restarts itself with it.
// Anything older cannot run the sources at all: say so in one line instead of a stack trace.
import { spawn } from 'node:child_process';

const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 12)) {
  process.stderr.write(
    `opsledger: needs Node.js 22.12 or later (24 LTS recommended); found ${process.version}. ` +
      'Run it through npm (npm start, npx opsledger), which uses the Node.js 24 the package installs.\n',
  );
  process.exit(1);
}

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
