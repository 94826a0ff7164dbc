/**
 * The full-stack host's logger: lines on stderr prefixed with the app's name.
 * Engine-neutral (node: built-ins only).
 *
 * @module
 */

import process from "node:process";

/** Log levels, from quietest to loudest. */
export type LogLevel = "error" | "warn" | "info" | "debug";

const LEVEL_ORDER: Record<LogLevel, number> = { error: 0, warn: 1, info: 2, debug: 3 };

/** A small leveled logger. */
export interface Logger {
  /** The level below which messages are dropped. */
  readonly level: LogLevel;
  /** Logs an error. */
  error(message: string): void;
  /** Logs a warning. */
  warn(message: string): void;
  /** Logs information. */
  info(message: string): void;
  /** Logs detail, shown with PBUNDLE_LOG=debug or [debug] verbose = true. */
  debug(message: string): void;
  /** Passes a line of the backend's own stderr through, prefixed with the app's name. */
  passthrough(line: string): void;
}

/** Options for {@linkcode createLogger}. */
export interface CreateLoggerOptions {
  /**
   * The level.
   * @default "info"
   */
  level?: LogLevel;
  /**
   * Where lines go.
   * @default a writer to process.stderr
   */
  write?: (line: string) => void;
}

/**
 * Picks the log level from PBUNDLE_LOG (error, warn, info, debug, trace = debug;
 * when it is unset or empty, RUST_LOG, which auroraview's document uses) and
 * the [debug] verbose flag.
 *
 * @param env The environment.
 * @param verbose Whether [debug] verbose is set.
 * @returns The level.
 */
export function logLevelFrom(env: Record<string, string | undefined>, verbose = false): LogLevel {
  // An empty PBUNDLE_LOG counts as unset, so RUST_LOG still applies.
  const named = (env["PBUNDLE_LOG"] || env["RUST_LOG"] || "").toLowerCase();
  if (named === "debug" || named === "trace" || verbose) return "debug";
  if (named === "error" || named === "warn" || named === "info") return named;
  return "info";
}

/**
 * Creates a logger whose lines read "[NAME] level: message".
 *
 * @param name The app's name, shown on every line.
 * @param options Level and writer.
 * @returns The logger.
 */
export function createLogger(name: string, options: CreateLoggerOptions = {}): Logger {
  const level = options.level ?? "info";
  const write = options.write ?? ((line: string) => void process.stderr.write(line + "\n"));
  const emit = (at: LogLevel, message: string) => {
    if (LEVEL_ORDER[at] <= LEVEL_ORDER[level]) write(`[${name}] ${at}: ${message}`);
  };
  return {
    level,
    error: (m) => emit("error", m),
    warn: (m) => emit("warn", m),
    info: (m) => emit("info", m),
    debug: (m) => emit("debug", m),
    passthrough: (line) => write(`[${name}] ${line}`),
  };
}
