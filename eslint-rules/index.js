import { fileLengthRule } from './file-length.js'
import { layersRule } from './layers.js'

/** switchyard's own lint rules: the layer table of src/ and the file length limit. */
export default {
  meta: { name: 'switchyard' },
  rules: {
    layers: layersRule,
    'file-length': fileLengthRule,
  },
}
