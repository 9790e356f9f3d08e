import { useEffect, useState } from 'react'

/** The time (ms), updated every `everyMs`, for ages such as "heartbeat 3s ago". */
export function useNow(everyMs = 1000): number {
  const [now, setNow] = useState(() => Date.now())
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), everyMs)
    return () => clearInterval(timer)
  }, [everyMs])
  return now
}
