#!/usr/bin/env node
// The package's command. In this repository it runs the TypeScript sources: Node.js 22.18+ and 24
// strip types directly; Node.js 22.12–22.17 needs a flag, so there the command restarts itself
// with it. An installed package has no sources (Node.js never strips types under node_modules)
// and runs the JavaScript compiled into dist/ instead. Anything older than 22.12 says so in one
// line instead of a stack trace.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';

const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 12)) {
  process.stderr.write(
    `opsledger: needs Node.js 22.12 or later (24 LTS recommended); found ${process.version}. ` +
      'Run it through npm (npm start, npx opsledger), which uses the Node.js 24 the package installs.\n',
  );
  process.exit(1);
}

if (!existsSync(new URL('../src/cli/main.ts', import.meta.url))) {
  await import('../dist/cli/main.js');
} else if (process.features.typescript) {
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
