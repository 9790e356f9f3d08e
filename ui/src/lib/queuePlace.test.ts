import { describe, expect, it } from 'vitest'
import { ordinal, queuePlaceText } from './queuePlace'

describe('ordinal', () => {
  it('gives the English suffix, teens with th', () => {
    expect([1, 2, 3, 4, 10, 11, 12, 13, 20, 21, 22, 23, 101, 111, 112, 1001].map(ordinal)).toEqual([
      '1st', '2nd', '3rd', '4th', '10th', '11th', '12th', '13th', '20th', '21st', '22nd', '23rd', '101st', '111th', '112th', '1,001st',
    ])
  })
})

describe('queuePlaceText', () => {
  it('says the place, how many are ahead and what it waits for, as the CLI does', () => {
    expect(queuePlaceText({ position: 2, ahead: 1, waiting_for: 'a free worker (1 live, busy with run-0)' })).toBe(
      '2nd in line (1 ahead), waiting for a free worker (1 live, busy with run-0)',
    )
    expect(queuePlaceText({ position: 1234, ahead: 1233, waiting_for: 'a free worker' })).toBe('1,234th in line (1,233 ahead), waiting for a free worker')
  })

  it('leaves out "ahead" when none is', () => {
    expect(queuePlaceText({ position: 1, ahead: 0, waiting_for: 'a worker that serves cpu; none is running' })).toBe(
      '1st in line, waiting for a worker that serves cpu; none is running',
    )
  })

  it('says nothing of a job that does not wait', () => {
    expect(queuePlaceText(null)).toBeUndefined()
    expect(queuePlaceText(undefined)).toBeUndefined()
  })
})
