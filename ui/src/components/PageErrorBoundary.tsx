import { Component, type ReactNode } from 'react'
import { Link } from '../router/Link'

interface Props {
  /** The page's path: another page (a link, Back) clears a failure. */
  resetKey: string
  children: ReactNode
}

interface State {
  error: Error | null
  /** The path the error (if any) belongs to. */
  resetKey: string
}

/** Keeps one page's failure (a bad link, a chunk that no longer loads, a bug) inside the page:
 * without it React unmounts the whole app and leaves a blank window, header and all. */
export class PageErrorBoundary extends Component<Props, State> {
  override state: State = { error: null, resetKey: this.props.resetKey }

  static getDerivedStateFromProps(props: Props, state: State): State | null {
    return props.resetKey === state.resetKey ? null : { error: null, resetKey: props.resetKey }
  }

  static getDerivedStateFromError(error: unknown): Partial<State> {
    return { error: error instanceof Error ? error : new Error(String(error)) }
  }

  override render(): ReactNode {
    const { error } = this.state
    if (!error) return this.props.children
    return (
      <div className="page">
        <h1>This page could not be shown</h1>
        <div className="notice notice-error" role="alert">
          <p className="error-message">{error.message}</p>
        </div>
        <p>
          The rest of the dashboard still works. <Link to="/">Back to the overview</Link>.
        </p>
      </div>
    )
  }
}
