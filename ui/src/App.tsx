import { Suspense, lazy, useEffect, useState } from 'react'
import { apiKey } from './api/apiKey'
import { ApiKeyPrompt } from './components/ApiKeyPrompt'
import { PageErrorBoundary } from './components/PageErrorBoundary'
import { Link, Router, type Route } from './router/Link'
import { useHashPath, useQuery } from './router/router'
import { HomePage } from './routes/index'
import { TokenizerPage } from './routes/tokenizers.$tokenizerId'
import { NewTokenizerPage } from './routes/tokenizers.new'

// The run and compare pages carry the charts (uPlot), the New run page the API's schemas:
// each is loaded when first opened.
const RunPage = lazy(async () => ({ default: (await import('./routes/runs.$runId')).RunPage }))
const NewRunPage = lazy(async () => ({ default: (await import('./routes/runs.new')).NewRunPage }))
const ComparePage = lazy(async () => ({ default: (await import('./routes/compare')).ComparePage }))

function NewRunRoute() {
  const from = useQuery().get('from') ?? undefined
  return <NewRunPage key={from ?? ''} from={from} />
}

const routes: Route[] = [
  { pattern: '/', render: () => <HomePage /> },
  { pattern: '/tokenizers/new', render: () => <NewTokenizerPage /> },
  { pattern: '/tokenizers/:tokenizerId', render: (p) => <TokenizerPage key={p['tokenizerId']} tokenizerId={p['tokenizerId'] ?? ''} /> },
  { pattern: '/runs/new', render: () => <NewRunRoute /> },
  { pattern: '/compare', render: () => <ComparePage /> },
  { pattern: '/runs/:runId', render: (p) => <RunPage key={p['runId']} runId={p['runId'] ?? ''} /> },
]

function NotFound() {
  return (
    <div className="page">
      <h1>Not found</h1>
      <p>
        Nothing here. <Link to="/">Back to the overview</Link>.
      </p>
    </div>
  )
}

function NavLink({ to, children }: { to: string; children: string }) {
  const path = useHashPath()
  const current = to === '/' ? path.split('?')[0] === '/' : path.startsWith(to)
  return (
    <Link to={to} aria-current={current ? 'page' : undefined}>
      {children}
    </Link>
  )
}

export function App() {
  const path = useHashPath()
  const [keyState, setKeyState] = useState(apiKey.state())
  useEffect(() => apiKey.subscribe(setKeyState), [])
  return (
    <>
      <button
        type="button"
        className="skip"
        onClick={() => document.getElementById('main')?.focus()}
      >
        Skip to content
      </button>
      <header className="topbar">
        <Link to="/" className="brand">
          Model Trainer
        </Link>
        <nav aria-label="Main">
          <NavLink to="/">Overview</NavLink>
          <NavLink to="/tokenizers/new">New tokenizer</NavLink>
          <NavLink to="/runs/new">New run</NavLink>
          <NavLink to="/compare">Compare</NavLink>
        </nav>
        <button type="button" className="button small key-button" onClick={() => apiKey.ask()}>
          {keyState.key ? 'API key ✓' : 'API key'}
        </button>
      </header>
      <main id="main" tabIndex={-1}>
        <PageErrorBoundary resetKey={path}>
          <Suspense fallback={<p className="muted">Loading…</p>}>
            <Router routes={routes} fallback={<NotFound />} />
          </Suspense>
        </PageErrorBoundary>
      </main>
      <ApiKeyPrompt />
    </>
  )
}
