import { describe, expect, it } from 'vitest'
import type { MetricRecord } from '../api/types'
import { RunSeries } from './chartData'
import { curve, diffRows, flatten, hasTimes, mergeMany, parseRunIds, showValue } from './compare'

describe('parseRunIds', () => {
  it('reads a comma list, each id once, at most twenty', () => {
    expect(parseRunIds(' a, b,,a ,c')).toEqual(['a', 'b', 'c'])
    expect(parseRunIds(null)).toEqual([])
    expect(parseRunIds(Array.from({ length: 30 }, (_, i) => i).join(","))).toHaveLength(20)
  })
})

describe('flatten and diffRows', () => {
  it('opens objects into dotted keys, keeping arrays and empty objects whole', () => {
    expect(flatten({ model: { family: 'gpt2', options: {} }, data: { files: ['a', 'b'] }, n: null })).toEqual({
      'model.family': 'gpt2',
      'model.options': {},
      'data.files': ['a', 'b'],
      n: null,
    })
  })

  it('marks the keys whose values differ, including keys only some have', () => {
    const rows = diffRows([
      { trainer: { lr: 0.001, steps: 300 }, model: { options: {} } },
      { trainer: { lr: 0.001, steps: 600 }, model: { options: { rotary: 0.25 } } },
    ])
    expect(rows.map((r) => [r.key, r.differs])).toEqual([
      ['trainer.lr', false],
      ['trainer.steps', true],
      ['model.options', true],
      ['model.options.rotary', true],
    ])
    expect(rows[3]?.values).toEqual([undefined, 0.25])
    expect(rows.map((r) => r.values.map(showValue))).toContainEqual(['{}', '—'])
  })
})

describe('overlaid curves', () => {
  it('merges series onto one ascending x, null where a series has no point', () => {
    expect(mergeMany([{ x: [1, 3], y: [10, 30] }, { x: [2, 3], y: [20, 31] }])).toEqual([
      [1, 2, 3],
      [10, null, 30],
      [null, 20, 31],
    ])
  })

  it('plots against minutes since the first record when records carry their time', () => {
    const s = new RunSeries()
    s.sync([
      { kind: 'eval', step: 0, val_loss: 9, time: 1000 },
      { kind: 'train', step: 10, loss: 5, time: 1060 },
      { kind: 'train', step: 20, loss: 4, time: 1150 },
    ] as MetricRecord[])
    expect(hasTimes([s])).toBe(true)
    expect(curve(s, 'train', 'time', 100)).toEqual({ x: [1, 2.5], y: [5, 4] })
    expect(curve(s, 'val', 'step', 100)).toEqual({ x: [0], y: [9] })
    const old = new RunSeries()
    old.sync([{ kind: 'train', step: 10, loss: 5 }])
    expect(hasTimes([old])).toBe(false)
    expect(curve(old, 'train', 'time', 100)).toEqual({ x: [], y: [] })
  })
})
