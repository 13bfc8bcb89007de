import { runProgram } from './program.ts';

const code = await runProgram(process.argv.slice(2));
// Commands that serve return only when asked to stop; the rest exit with their code once stdout
// has drained (a large --json answer into a pipe).
process.stdout.write('', () => process.exit(code));
