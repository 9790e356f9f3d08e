import { describe, expect, it } from 'vitest'
import { decodeSegment, matchPath, queryOf, withQuery } from './router'

describe('hash paths with a query', () => {
  it('matches the path without its query and reads the query apart', () => {
    expect(matchPath('/compare', '/compare?runs=a,b')).toEqual({})
    expect(matchPath('/runs/new', '/runs/new?from=run-1')).toEqual({})
    expect(queryOf('/compare?runs=a,b').get('runs')).toBe('a,b')
    expect(queryOf('/compare').get('runs')).toBeNull()
  })

  it('writes a query, keeping commas readable and leaving empty values out', () => {
    expect(withQuery('/compare', { runs: 'run-1,run 2' })).toBe('/compare?runs=run-1,run%202')
    expect(withQuery('/compare', { runs: '' })).toBe('/compare')
  })
})

describe('malformed escapes in a link', () => {
  it('match no route instead of throwing', () => {
    expect(decodeSegment('%E0%A4%A')).toBeNull()
    expect(decodeSegment('%')).toBeNull()
    expect(decodeSegment('run%201')).toBe('run 1')
    expect(matchPath('/runs/:runId', '/runs/%E0%A4%A')).toBeNull()
    expect(matchPath('/tokenizers/:tokenizerId', '/tokenizers/%ZZ')).toBeNull()
    expect(matchPath('/runs/:runId', '/runs/run%2D1')).toEqual({ runId: 'run-1' })
  })
})
