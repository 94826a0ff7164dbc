/**
 * picomatch, re-exported so that the node-engine build can keep it apart from
 * the runtime's own script (see _chunks.ts): only glob extraction needs it.
 *
 * @module
 */

export { default } from "picomatch";
