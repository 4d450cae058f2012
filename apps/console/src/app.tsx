import { useEffect } from 'preact/hooks';
import { credentials, refreshSession, rolesKnown, signOut } from './session';
import { route } from './router';
import { SignInPage } from './sign-in';
import { Header } from './header';
import { VmsPage } from './vms-page';
import { FleetPage } from './fleet-page';
import { VmPage } from './vm-page';
import { ErrorBanner } from './errors';
import { ApiError } from './api';

function Page() {
  const r = route.value;
  switch (r.page) {
    case 'fleet':
      return <FleetPage />;
    case 'vms':
      return <VmsPage />;
    case 'vm':
      return <VmPage key={r.name} name={r.name} tab={r.tab} />;
  }
}

export function App() {
  const creds = credentials.value;

  // After a reload the credentials come from sessionStorage: fetch their roles again.
  useEffect(() => {
    if (creds && !rolesKnown.value) {
      refreshSession().catch((err: unknown) => {
        if (err instanceof ApiError && err.status === 401) {
          signOut();
        }
      });
    }
  }, [creds]);

  if (!creds) {
    return <SignInPage />;
  }
  return (
    <>
      <a class="skip-link" href="#main">
        Skip to content
      </a>
      <Header />
      <ErrorBanner />
      <main id="main" tabIndex={-1}>
        <Page />
      </main>
    </>
  );
}
