import { render, screen } from '@testing-library/react'
import { describe, expect, it, vi } from 'vitest'
import { PageErrorBoundary } from './PageErrorBoundary'

function Broken(): never {
  throw new URIError('URI malformed')
}

describe('PageErrorBoundary', () => {
  it('keeps a failing page to itself, and clears when the path changes', () => {
    // React reports the caught error on the console; the test expects it.
    vi.spyOn(console, 'error').mockImplementation(() => undefined)
    const { rerender } = render(
      <PageErrorBoundary resetKey="/runs/%E0%A4%A">
        <Broken />
      </PageErrorBoundary>,
    )
    expect(screen.getByRole('heading', { name: 'This page could not be shown' })).toBeTruthy()
    expect(screen.getByRole('alert').textContent).toContain('URI malformed')
    expect(screen.getByRole('link', { name: 'Back to the overview' }).getAttribute('href')).toBe('#/')
    rerender(
      <PageErrorBoundary resetKey="/">
        <p>Overview</p>
      </PageErrorBoundary>,
    )
    expect(screen.getByText('Overview')).toBeTruthy()
    expect(screen.queryByRole('alert')).toBeNull()
  })
})
