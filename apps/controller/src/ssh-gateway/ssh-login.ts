/**
 * Who logs in to the SSH gateway, from the SSH user name: `sa` (the service account, for `ssh -J`) or `sa+vm` (the
 * account and the VM whose shell or command a session channel runs). Undefined when the name has an empty part.
 */
export interface SshLogin {
  account: string;
  vm?: string;
}

export function parseSshLogin(username: string): SshLogin | undefined {
  const plus = username.indexOf('+');
  if (plus < 0) {
    return username === '' ? undefined : { account: username };
  }
  const account = username.slice(0, plus);
  const vm = username.slice(plus + 1);
  return account === '' || vm === '' ? undefined : { account, vm };
}
