#!/usr/bin/env node
// The package's command. Node.js 22.18+/24 runs the TypeScript sources directly (type stripping).
import '../src/cli/main.ts';
