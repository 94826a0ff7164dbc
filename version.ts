/**
 * pbundle's version; a test keeps it equal to deno.json's "version".
 *
 * @module
 */

/** The version of pbundle. */
export const VERSION = "0.1.0";
