import { describe, expect, it } from 'vitest'
import { labelsProblem, parseTags } from './labels'

describe('labels', () => {
  it('splits tags on commas and spaces, each once whatever its case', () => {
    expect(parseTags(' a, b c,A ,, B')).toEqual(['a', 'b', 'c'])
    expect(parseTags('')).toEqual([])
  })

  it('says what the API would refuse', () => {
    expect(labelsProblem('ok', ['x', 'v1.2:y_z-w'], '')).toBe('')
    expect(labelsProblem('n'.repeat(121), [], '')).toBe('name: at most 120 characters')
    expect(labelsProblem('', [], 'x'.repeat(10_001))).toBe('notes: at most 10,000 characters')
    expect(labelsProblem('', Array.from({ length: 17 }, (_, i) => `t${i}`), '')).toBe('tags: at most 16')
    expect(labelsProblem('', ['café'], '')).toContain("tags: 'café'")
    expect(labelsProblem('', ['t'.repeat(41)], '')).toContain('up to 40')
  })
})
