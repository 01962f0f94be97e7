import type { ESLint, Rule } from 'eslint'

/** switchyard's own lint rules (eslint-rules/index.js): `layers` and `file-length`. */
declare const plugin: ESLint.Plugin & { rules: { layers: Rule.RuleModule; 'file-length': Rule.RuleModule } }
export default plugin
