import { runCli } from './program';

// Exit codes: 0 success, 1 failure, 2 usage error. exitCode (not process.exit) lets stdout drain first.
void runCli(process.argv).then((code) => {
  process.exitCode = code;
});
