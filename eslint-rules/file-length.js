/**
 * A file past `max` lines (300 by default) usually holds more than one concept. It may stay
 * that long only when its opening comment (the comments before its first line of code) says
 * so in the words "over 300 lines" together with the reason.
 *
 * @type {import('eslint').Rule.RuleModule}
 */
export const fileLengthRule = {
  meta: {
    type: 'suggestion',
    docs: { description: 'No file over 300 lines unless its opening comment says "over 300 lines" and why' },
    schema: [
      {
        type: 'object',
        properties: { max: { type: 'integer', minimum: 1 } },
        additionalProperties: false,
      },
    ],
    messages: {
      tooLong:
        'This file has {{lines}} lines, over the {{max}} allowed: split it by concern, or give the reason in its opening comment, with the words "over {{max}} lines"',
    },
  },
  create(context) {
    const max = context.options[0]?.max ?? 300
    const sourceCode = context.sourceCode
    return {
      Program() {
        const lines = sourceCode.lines
        // Count as `wc -l` does: a final newline ends the last line, it does not open another.
        const count = lines.at(-1) === '' ? lines.length - 1 : lines.length
        if (count <= max) return
        if (hasReason(sourceCode, max)) return
        context.report({ loc: { line: 1, column: 0 }, messageId: 'tooLong', data: { lines: String(count), max: String(max) } })
      },
    }
  },
}

/** Whether the comments before the first token name the excess, with at least a few words of why. */
function hasReason(sourceCode, max) {
  const first = sourceCode.ast.tokens[0]
  const opening = sourceCode
    .getAllComments()
    .filter((comment) => comment.type !== 'Shebang' && (first === undefined || comment.range[1] <= first.range[0]))
    .map((comment) => comment.value)
    .join(' ')
    // `//` runs and `/** ... */` blocks read as one sentence: drop the stars and line breaks.
    .replace(/[\s*]+/g, ' ')
  const phrase = new RegExp(`\\bover ${max} lines\\b`, 'i')
  if (!phrase.test(opening)) return false
  const rest = opening.replace(phrase, ' ').match(/[A-Za-z]{2,}/g) ?? []
  return rest.length >= 3
}
