import type { Logger } from 'pino';
import type { CompletedExchange, ExchangePlanner } from '../http/completed-exchange.js';
import type { OciEvent } from './events.js';
import { INITIAL_INTERPRETER_STATE, type InterpreterState, interpret } from './interpreter.js';
import { type InterpreterOptions, resolveInterpreterOptions } from './interpreter-options.js';
import { createOciPlanner } from './planner.js';
import type { PushAttemptRecorder } from './push-attempts.js';
import type { PushPolicy } from './push-policy.js';

/**
 * The interpreter with its state held in one place: the planner reads that state at request
 * heads, `accept` advances it at exchange completion. Both run on the event loop, in order.
 */
export interface OciStage {
  readonly options: InterpreterOptions;
  readonly planner: ExchangePlanner;
  /** Interprets one completed exchange; returns its events. Never throws (an ExchangeSink must not). */
  accept(exchange: CompletedExchange): readonly OciEvent[];
  state(): InterpreterState;
}

export function createOciStage(
  overrides: Partial<InterpreterOptions> = {},
  logger?: Logger,
  recordAttempt: PushAttemptRecorder | null = null,
  pushPolicy: PushPolicy | null = null,
): OciStage {
  const options = resolveInterpreterOptions(overrides);
  let state: InterpreterState = INITIAL_INTERPRETER_STATE;
  return {
    options,
    planner: createOciPlanner(() => state, options, recordAttempt, pushPolicy),
    accept(exchange) {
      try {
        const result = interpret(state, exchange, options);
        state = result.state;
        return result.events;
      } catch (error) {
        // A bug here must cost one exchange's observations, never the proxy. Only the id is
        // logged: targets may carry credentials in their query.
        logger?.error({ err: error, exchangeId: exchange.id }, 'oci interpreter failed on an exchange');
        return [];
      }
    },
    state: () => state,
  };
}
