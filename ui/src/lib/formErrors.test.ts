import { describe, expect, it } from 'vitest'
import { changedFields, clearEditedErrors } from './formErrors'

describe('changedFields', () => {
  it('names the fields whose values differ, a missing one read as empty', () => {
    expect(changedFields({ a: '1', b: true, c: '' }, { a: '2', b: true, d: 'x' })).toEqual(['a', 'd'])
    expect(changedFields({ a: '' }, {})).toEqual([])
  })
})

describe('clearEditedErrors', () => {
  const errors = { top_k: 'must be at least 1', seed: 'must be a whole number' }

  it('drops the error of an edited field and keeps the others', () => {
    expect(clearEditedErrors(errors, { top_k: '0', seed: 'x' }, { top_k: '5', seed: 'x' })).toEqual({ seed: 'must be a whole number' })
  })

  it('gives the same object back when nothing it holds was edited', () => {
    expect(clearEditedErrors(errors, { top_k: '0', temperature: '1' }, { top_k: '0', temperature: '0.8' })).toBe(errors)
  })

  it('drops the keys a field answers, as `errorKeysOf` names them', () => {
    const keysOf = (k: string): string[] => (k === 'size' ? ['model.size', 'model'] : [k])
    expect(clearEditedErrors({ 'model.size': 'bad', model: 'bad', name: 'long' }, { size: 'a' }, { size: 'b' }, keysOf)).toEqual({ name: 'long' })
  })
})
