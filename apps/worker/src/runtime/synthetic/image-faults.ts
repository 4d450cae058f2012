/** What an image name asks the synthetic runtime to get wrong, for tests and demos. */
export interface ImageFaults {
  /** `fail-pull`: `pull` fails. */
  failPull: boolean;
  /** `fail-clone`: `clone` fails. */
  failClone: boolean;
  /** `fail-run`: `run` cannot start the VM. */
  failRun: boolean;
  /** `exit-after-<ms>`: the run ends by itself with exit code 1 after this many milliseconds. */
  exitAfterMs?: number;
  /**
   * How the VM's guest agent answers: `no-agent` in the name gives an image without the agent (its control socket
   * closes every connection at once, as `tart run` does when nothing listens on the guest's vsock port 8080),
   * `hung-agent` one whose agent accepts connections and never answers (tart#1220). Exec then falls back to SSH.
   */
  agent: 'serving' | 'absent' | 'hung';
}

/**
 * Parses the failures an image name asks for. Each marker may appear anywhere in the name (`acme/fail-clone`,
 * `ghcr.io/x/macos:exit-after-500`), and several may be combined.
 */
export function imageFaults(image: string): ImageFaults {
  const exitAfter = /exit-after-(\d+)/.exec(image);
  return {
    failPull: image.includes('fail-pull'),
    failClone: image.includes('fail-clone'),
    failRun: image.includes('fail-run'),
    ...(exitAfter ? { exitAfterMs: Number(exitAfter[1]) } : {}),
    agent: image.includes('no-agent') ? 'absent' : image.includes('hung-agent') ? 'hung' : 'serving',
  };
}

/** The error of a step the image name asked to fail. */
export function faultMessage(step: 'pull' | 'clone' | 'run', image: string): string {
  return `synthetic runtime: ${step} of "${image}" failed (the image name asks for it)`;
}

/** The error of a run that ended by itself because the image name asked for it. */
export function exitAfterMessage(ms: number): string {
  return `synthetic runtime: the VM exited after ${ms} ms (the image name asks for it)`;
}
