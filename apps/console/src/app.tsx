import { useEffect } from 'preact/hooks';
import { credentials, refreshSession, rolesKnown } from './session';
import { route } from './router';
import { SignInPage } from './sign-in';
import { Header } from './header';
import { VmsPage } from './vms-page';
import { FleetPage } from './fleet-page';
import { VmPage } from './vm-page';
import { clearProblem, ErrorBanner, reportProblem } from './errors';

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

  // After a reload the credentials come from sessionStorage: fetch their roles again (retrying while the controller
  // cannot be reached; a refused token signs out).
  useEffect(() => {
    if (!creds || rolesKnown.value) {
      return;
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    let stopped = false;
    const load = () => {
      refreshSession()
        .then(() => clearProblem('session'))
        .catch((err: unknown) => {
          if (!stopped) {
            reportProblem('session', err, true, 'Could not read your roles');
            timer = setTimeout(load, 3000);
          }
        });
    };
    load();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
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
