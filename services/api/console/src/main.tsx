import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { onKeyRefused, session, signOut } from './api.ts';
import { BatchesPage, BatchPage } from './pages/batches.tsx';
import { JobPage } from './pages/job.tsx';
import { JobsPage } from './pages/jobs.tsx';
import { MachinesPage } from './pages/machines.tsx';
import { NewJobPage } from './pages/new-job.tsx';
import { ModelsPage, WorkflowsPage } from './pages/registries.tsx';
import { SignInPage } from './pages/sign-in.tsx';
import './styles.css';

/** The route of the page: the URL's hash (`#/jobs/abc`), so the server serves one page. */
function useHashRoute(): string[] {
  const parse = () => location.hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
  const [route, setRoute] = useState(parse);
  useEffect(() => {
    const on = () => setRoute(parse());
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return route;
}

const NAV: [string, string][] = [
  ['jobs', 'Jobs'],
  ['new-job', 'New job'],
  ['batches', 'Batches'],
  ['models', 'Models'],
  ['workflows', 'Workflows'],
  ['machines', 'Machines'],
];

function Page({ route }: { route: string[] }) {
  const [top, id] = route;
  switch (top) {
    case 'jobs':
      return id ? <JobPage jobId={id} /> : <JobsPage />;
    case 'new-job':
      return <NewJobPage />;
    case 'batches':
      return id ? <BatchPage batchId={id} /> : <BatchesPage />;
    case 'models':
      return <ModelsPage modelId={route.slice(1).join('/') || null} />;
    case 'workflows':
      return <WorkflowsPage workflowId={id ?? null} />;
    case 'machines':
      return <MachinesPage />;
    default:
      return <JobsPage />;
  }
}

function App() {
  const route = useHashRoute();
  const [signedIn, setSignedIn] = useState(() => session());
  const [notice, setNotice] = useState<string | null>(null);
  useEffect(
    () =>
      onKeyRefused(() => {
        setSignedIn(null);
        setNotice('The api no longer accepts this API key. Sign in again.');
      }),
    [],
  );
  if (!signedIn)
    return (
      <SignInPage
        notice={notice}
        onSignedIn={() => {
          setNotice(null);
          setSignedIn(session());
        }}
      />
    );
  return (
    <div class="shell">
      <header class="top">
        <a class="brand" href="#/jobs">
          visionbatch
        </a>
        <nav>
          {NAV.map(([path, label]) => (
            <a
              key={path}
              href={`#/${path}`}
              class={route[0] === path || (!route[0] && path === 'jobs') ? 'active' : ''}
            >
              {label}
            </a>
          ))}
        </nav>
        <span class="workspace" title="workspace">
          {signedIn.workspace}
        </span>
        <button
          type="button"
          class="link"
          onClick={() => {
            signOut();
            setSignedIn(null);
          }}
        >
          Sign out
        </button>
      </header>
      <main>
        <Page route={route} />
      </main>
    </div>
  );
}

render(<App />, document.getElementById('app') as HTMLElement);
