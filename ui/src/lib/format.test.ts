import { describe, expect, it } from 'vitest'
import { formatDuration, formatLogValue, formatNumber, formatRate, heartbeatAge, percent, roundSignificant, tickLabel } from './format'

describe('format', () => {
  it('durations', () => {
    expect(formatDuration(null)).toBe('—')
    expect(formatDuration(42.4)).toBe('42s')
    expect(formatDuration(95)).toBe('1m 35s')
    expect(formatDuration(3 * 3600 + 5 * 60)).toBe('3h 05m')
    expect(formatDuration(50 * 3600)).toBe('2d 2h')
  })

  it('numbers, rates, ages and percentages', () => {
    expect(formatNumber(1_234_567)).toBe('1,234,567')
    expect(formatNumber(2.34567)).toBe('2.346')
    expect(formatNumber(0.0003)).toBe('3.00e-4')
    expect(formatNumber(Number.NaN)).toBe('—')
    expect(formatRate(9400)).toBe('9.4k tok/s')
    expect(heartbeatAge(100, 103_000)).toBe('3s ago')
    expect(heartbeatAge(null, 0)).toBe('—')
    expect(percent(5, 0)).toBe(0)
    expect(percent(150, 100)).toBe(100)
  })

  it('axis ticks that tell small values apart', () => {
    expect([0.0002, 0.0004, 0.0006].map((v) => tickLabel(v, 0.0004))).toEqual(['2.0e-4', '4.0e-4', '6.0e-4'])
    expect(tickLabel(2500, 7500)).toBe('2,500')
    expect(tickLabel(0.25, 0.5)).toBe('0.25')
  })

  it('log values: floats to 4 significant digits, integers and strings untouched', () => {
    expect(formatLogValue(2.456789123456789)).toBe('2.457')
    expect(formatLogValue(0.0003 - 1e-19)).toBe('3e-4')
    expect(formatLogValue(0.000049512345)).toBe('4.951e-5')
    expect(formatLogValue(12315.678901234)).toBe('12316')
    expect(formatLogValue(1200)).toBe('1200')
    expect(formatLogValue('cpu')).toBe('cpu')
    expect(formatLogValue({ loss: 3.14159265358979, steps: [1, 2.50000001] })).toBe('{"loss":3.142,"steps":[1,2.5]}')
    expect(formatLogValue(null)).toBe('null')
    expect(roundSignificant(-1.23456e-7)).toBe(-1.235e-7)
  })
})
