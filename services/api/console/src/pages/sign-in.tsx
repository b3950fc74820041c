import { useState } from 'preact/hooks';
import { signIn } from '../api.ts';
import { ErrorBox } from '../components.tsx';

/** Sign in with an API key; the key goes to sessionStorage only, never on screen. */
export function SignInPage({ notice, onSignedIn }: { notice: string | null; onSignedIn: () => void }) {
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    const input = form.elements.namedItem('apiKey') as HTMLInputElement;
    setBusy(true);
    setError(null);
    try {
      await signIn(input.value);
      input.value = '';
      onSignedIn();
    } catch (err) {
      input.value = '';
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <div class="sign-in">
      <form onSubmit={submit}>
        <h1>visionbatch console</h1>
        {notice && <p class="notice">{notice}</p>}
        <label>
          API key
          <input
            name="apiKey"
            type="password"
            autocomplete="off"
            required
            placeholder="your workspace's API key"
          />
        </label>
        <button type="submit" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
        <ErrorBox error={error} />
        <p class="hint">The key is kept in this tab only (sessionStorage) and sent with every API call.</p>
      </form>
    </div>
  );
}
