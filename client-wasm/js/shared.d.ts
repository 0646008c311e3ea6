// mqttwire/shared: one connection for all tabs of an origin, through a SharedWorker.
import type { ClientEvents, ClientOptions, MqttClient } from './index.js';

/** Events of a shared client: those of `MqttClient`, and `sharing`. */
export interface SharedClientEvents extends ClientEvents {
  /**
   * Once, after `connectShared`: `shared` is true when the connection lives in the shared
   * worker, false (with the reason) where the browser has no SharedWorker and this tab
   * has a connection of its own.
   */
  sharing: (info: { shared: boolean; reason?: string }) => void;
}

/**
 * A client whose connection lives in the origin's shared worker. The API of `MqttClient`:
 * `subscribe` counts filters across tabs (the broker sees a filter once; it is
 * unsubscribed when the last tab leaves it), `end` takes only this tab out, and the
 * connection ends a few seconds after the last tab closes (a reload finds it still up).
 */
export interface SharedMqttClient extends Omit<MqttClient, 'on' | 'once' | 'off' | 'addListener' | 'removeListener' | 'removeAllListeners'> {
  on<E extends keyof SharedClientEvents>(event: E, listener: SharedClientEvents[E]): this;
  addListener<E extends keyof SharedClientEvents>(event: E, listener: SharedClientEvents[E]): this;
  once<E extends keyof SharedClientEvents>(event: E, listener: SharedClientEvents[E]): this;
  off<E extends keyof SharedClientEvents>(event: E, listener: SharedClientEvents[E]): this;
  removeListener<E extends keyof SharedClientEvents>(event: E, listener: SharedClientEvents[E]): this;
  removeAllListeners(event?: keyof SharedClientEvents): this;
}

/** Options of `connectShared`: those of `connect` as plain data (no password function,
 * no store: the worker gets a copy). */
export type SharedClientOptions = Omit<ClientOptions, 'password' | 'store'> & { password?: string | Uint8Array };

/** Connects through the shared worker: tabs calling it with the same url and options
 * share one connection. Listen for `connect`, `error` and `sharing`. */
export function connectShared(url: string, options?: SharedClientOptions): SharedMqttClient;

/** Like `connectShared`; resolves once connected, rejects on the first error. */
export function connectSharedAsync(url: string, options?: SharedClientOptions): Promise<SharedMqttClient>;
