import { runCli } from './program';

// `grove list vms | head` closes the pipe early; that is not an error of the CLI.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') {
    process.exit(0);
  }
  throw err;
});

// Exit codes: 0 success, 1 failure, 2 usage error. exitCode (not process.exit) lets stdout drain first.
void runCli(process.argv).then((code) => {
  process.exitCode = code;
});
