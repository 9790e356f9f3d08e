import { useState } from 'react'

/** A block of text to copy (a command, a file), with a Copy button that says whether it
 * worked (the clipboard needs a secure page; otherwise the text is selected to copy by hand). */
export function CopyBlock({ label, text, testId }: { label: string; text: string; testId?: string }) {
  const [state, setState] = useState<'idle' | 'copied' | 'failed'>('idle')
  const copy = async (): Promise<void> => {
    try {
      await navigator.clipboard.writeText(text)
      setState('copied')
    } catch {
      setState('failed')
    }
  }
  return (
    <div className="copy-block">
      <div className="copy-head">
        <span className="small">{label}</span>
        <button type="button" className="button small" onClick={() => void copy()} aria-label={`Copy ${label}`}>
          {state === 'copied' ? 'Copied' : 'Copy'}
        </button>
        {state === 'failed' ? (
          <span className="muted small" role="status">
            The browser did not allow copying: select the text instead.
          </span>
        ) : null}
      </div>
      <pre className="json" data-testid={testId}>
        {text}
      </pre>
    </div>
  )
}
