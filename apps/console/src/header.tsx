import { useEffect, useRef } from 'preact/hooks';
import { credentials, roles, signOut } from './session';
import { route } from './router';

/** Closes an open `<details>` menu on a click elsewhere or Escape (returning the focus to its summary). */
function useDismissable() {
  const ref = useRef<HTMLDetailsElement>(null);
  useEffect(() => {
    const onClick = (e: MouseEvent) => {
      const el = ref.current;
      if (el?.open && !el.contains(e.target as Node)) {
        el.open = false;
      }
    };
    const onKey = (e: KeyboardEvent) => {
      const el = ref.current;
      if (e.key === 'Escape' && el?.open) {
        el.open = false;
        el.querySelector('summary')?.focus();
      }
    };
    document.addEventListener('click', onClick);
    document.addEventListener('keydown', onKey);
    return () => {
      document.removeEventListener('click', onClick);
      document.removeEventListener('keydown', onKey);
    };
  }, []);
  return ref;
}

export function Header() {
  const page = route.value.page;
  const name = credentials.value?.name ?? '';
  const menu = useDismissable();
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
        <details class="account-menu" ref={menu}>
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
