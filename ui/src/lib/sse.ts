/** A server-sent events parser for text arriving in chunks (the fetch transport). */

export interface SseEvent {
  event: string
  id: string
  data: string
}

export class SseParser {
  private buffer = ''
  private data: string[] = []
  private event = ''
  private id = ''
  private readonly emit: (event: SseEvent) => void

  constructor(emit: (event: SseEvent) => void) {
    this.emit = emit
  }

  push(chunk: string): void {
    this.buffer += chunk
    // A line ends at \r\n, \n or \r; a trailing \r may be half of a \r\n still to come.
    const lines = this.buffer.split(/\r\n|\n|\r(?!$)/)
    this.buffer = lines.pop() ?? ''
    for (const line of lines) this.line(line)
  }

  /** The stream ended: an event not closed by a blank line is dropped (as the spec says). */
  end(): void {
    this.buffer = ''
    this.data = []
    this.event = ''
  }

  private line(line: string): void {
    if (line === '') {
      if (this.data.length > 0) {
        this.emit({ event: this.event || 'message', id: this.id, data: this.data.join('\n') })
      }
      this.data = []
      this.event = ''
      return
    }
    if (line.startsWith(':')) return // a comment (sse-starlette's pings)
    const colon = line.indexOf(':')
    const field = colon < 0 ? line : line.slice(0, colon)
    let value = colon < 0 ? '' : line.slice(colon + 1)
    if (value.startsWith(' ')) value = value.slice(1)
    if (field === 'data') this.data.push(value)
    else if (field === 'event') this.event = value
    else if (field === 'id' && !value.includes('\0')) this.id = value
  }
}
