import { useEffect, useState } from 'react'

/** A tag to filter a list by ('' = any), sent once typing rests; a tag chosen elsewhere (a
 * chip clicked) shows here. */
export function TagFilter({
  tag,
  onChange,
  label,
  field = 'Tag',
}: {
  tag: string
  onChange: (tag: string) => void
  label: string
  field?: string
}) {
  const [text, setText] = useState(tag)
  const [seen, setSeen] = useState(tag)
  if (seen !== tag) {
    setSeen(tag)
    setText(tag)
  }
  useEffect(() => {
    if (text.trim() === tag) return undefined
    const timer = setTimeout(() => onChange(text.trim()), 300)
    return () => clearTimeout(timer)
  }, [text, tag, onChange])
  return (
    <form className="filters" role="search" aria-label={label} onSubmit={(e) => e.preventDefault()}>
      <label className="filter">
        <span className="small">{field}</span>
        <input type="text" value={text} placeholder="any" spellCheck={false} maxLength={40} onChange={(e) => setText(e.target.value)} />
      </label>
    </form>
  )
}
