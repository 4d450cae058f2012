import { credentials, roles, signOut } from './session';
import { route } from './router';

export function Header() {
  const page = route.value.page;
  const name = credentials.value?.name ?? '';
  return (
    <header class="topbar">
      <a class="brand" href="#/vms" aria-label="Grove console home">
        Grove
      </a>
      <nav aria-label="Main">
        <a href="#/vms" aria-current={page === 'vms' || page === 'vm' ? 'page' : undefined}>
          VMs
        </a>
        <a href="#/fleet" aria-current={page === 'fleet' ? 'page' : undefined}>
          Fleet
        </a>
      </nav>
      <div class="account">
        <details class="account-menu">
          <summary class="account-name" aria-label={`Signed in as ${name}: show roles`}>
            {name}
          </summary>
          <div class="account-roles">
            <p class="muted">Roles of {name}:</p>
            <ul>
              {[...roles.value].sort().map((r) => (
                <li key={r}>
                  <code>{r}</code>
                </li>
              ))}
            </ul>
          </div>
        </details>
        <button type="button" class="btn" onClick={() => signOut()}>
          Sign out
        </button>
      </div>
    </header>
  );
}
