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
        <span class="account-name" title={[...roles.value].join(', ')}>
          {name}
        </span>
        <button type="button" class="btn" onClick={() => signOut()}>
          Sign out
        </button>
      </div>
    </header>
  );
}
