/** `aria-describedby` of an input: its error when it has one, else its hint (`<id>-error`,
 * `<id>-hint`, as TextField and the hints under inputs name them). */
export function describedBy(id: string, error: string | undefined, hint = true): string | undefined {
  if (error) return `${id}-error`
  return hint ? `${id}-hint` : undefined
}
