import { describe, expect, it } from 'vitest'
import { labelsPatch, labelsProblem, parseTags } from './labels'

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

  it('counts characters as the API does, an emoji as one', () => {
    const emoji = '\u{1F680}' // two UTF-16 units, one character
    expect(labelsProblem(emoji.repeat(100), [], '')).toBe('')
    expect(labelsProblem(emoji.repeat(120), [], '')).toBe('')
    expect(labelsProblem(emoji.repeat(121), [], '')).toBe('name: at most 120 characters')
    expect(labelsProblem('', [], emoji.repeat(10_000))).toBe('')
    expect(labelsProblem('', [], emoji.repeat(10_001))).toBe('notes: at most 10,000 characters')
  })

  it('gives only what changed since the form opened, tags as additions and removals', () => {
    const opened = { name: 'base', notes: 'first try', tags: ['a', 'B'] }
    expect(labelsPatch(opened, 'base', ['a', 'B'], 'first try')).toBeNull()
    expect(labelsPatch(opened, ' base ', ['A', 'b'], 'first try')).toBeNull() // blanks and case are no change
    expect(labelsPatch(opened, 'base', ['a', 'B'], 'second')).toEqual({ notes: 'second', add_tags: [], remove_tags: [] })
    expect(labelsPatch(opened, 'base', ['a', 'B'], '  ')).toEqual({ notes: null, add_tags: [], remove_tags: [] })
    expect(labelsPatch(opened, ' renamed ', ['a', 'B'], 'first try')).toEqual({ name: 'renamed', add_tags: [], remove_tags: [] })
    expect(labelsPatch(opened, '  ', ['a', 'B'], 'first try')).toEqual({ name: null, add_tags: [], remove_tags: [] })
    expect(labelsPatch(opened, 'base', ['a', 'B', 'c'], 'first try')).toEqual({ add_tags: ['c'], remove_tags: [] })
    expect(labelsPatch(opened, 'base', ['c', 'b'], 'first try')).toEqual({ add_tags: ['c'], remove_tags: ['a'] })
    expect(labelsPatch(opened, 'base', [], 'first try')).toEqual({ add_tags: [], remove_tags: ['a', 'B'] })
  })

  it('treats missing labels as empty ones', () => {
    expect(labelsPatch({}, '', [], '')).toBeNull()
    expect(labelsPatch({ name: null, notes: null }, '', [], '')).toBeNull()
    expect(labelsPatch({}, 'n', ['t'], 'x')).toEqual({ name: 'n', notes: 'x', add_tags: ['t'], remove_tags: [] })
  })
})
