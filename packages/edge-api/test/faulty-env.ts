/**
 * @module
 * Fault injection for the edge's storage bindings inside workerd: `faultyEnv(env, faults)` returns the
 * Worker's env with R2 (`BLOBS`) and D1 (`DB`) wrapped so that the Nth matching call throws or stalls,
 * while every other call goes to the real local R2/D1. The app under test is the real one
 * (`app.request(path, init, faulty.env)`); only the storage underneath misbehaves.
 *
 * @example
 * const faulty = faultyEnv(env, [{ on: 'r2.put', nth: 2, kind: 'throw' }]);
 * const res = await app.request('/v1/models/m/versions', init, faulty.env);
 * expect(faulty.fired()).toBe(1);
 */

/**
 * One storage operation a fault can hit. `d1` is a statement run (or a batch) whose SQL matches `sql`;
 * `r2.body` is the second read of a fetched object's body stream (after its first chunk went out).
 */
export type FaultSite = 'r2.put' | 'r2.head' | 'r2.get' | 'r2.body' | 'r2.delete' | 'r2.list' | 'd1';

export interface Fault {
  readonly on: FaultSite;
  /** For `d1`: which statements count (a batch counts once, when any of its statements matches). */
  readonly sql?: RegExp;
  /** The 1-based index among matching calls that misbehaves. */
  readonly nth: number;
  /** `throw` rejects as a storage outage would; `stall` waits until `release()` before going on. */
  readonly kind: 'throw' | 'stall';
}

/** The error an injected fault throws: shaped like the errors R2/D1 bindings throw (a plain Error). */
export class InjectedFault extends Error {
  override readonly name = 'InjectedFault';
}

export interface FaultyEnv {
  readonly env: Env;
  /** How many faults have fired so far. */
  fired(): number;
  /** Resolves once a stall fault is holding a call. */
  stalled(): Promise<void>;
  /** Lets every stalled call (and any that stall later) go on. */
  release(): void;
}

export function faultyEnv(base: Env, faults: readonly Fault[]): FaultyEnv {
  const counts = faults.map(() => 0);
  let fired = 0;
  let releaseGate!: () => void;
  const gate = new Promise<void>((resolve) => {
    releaseGate = resolve;
  });
  let onStall!: () => void;
  const stalledOnce = new Promise<void>((resolve) => {
    onStall = resolve;
  });

  /** Counts the call against every fault it matches; throws or stalls when one comes due. */
  async function hit(site: FaultSite, sql: readonly string[] = []): Promise<void> {
    for (const [i, f] of faults.entries()) {
      if (f.on !== site) continue;
      if (site === 'd1' && f.sql !== undefined && !sql.some((s) => f.sql!.test(s))) continue;
      counts[i]! += 1;
      if (counts[i] !== f.nth) continue;
      fired += 1;
      if (f.kind === 'throw') {
        throw new InjectedFault(
          `injected ${site} failure (call ${f.nth}${f.sql ? ` matching ${f.sql}` : ''})`,
        );
      }
      onStall();
      await gate;
    }
  }

  const r2 = base.BLOBS;
  const blobs = {
    put: async (...args: Parameters<R2Bucket['put']>) => {
      await hit('r2.put');
      return r2.put(...args);
    },
    head: async (key: string) => {
      await hit('r2.head');
      return r2.head(key);
    },
    get: async (...args: Parameters<R2Bucket['get']>) => {
      await hit('r2.get');
      const object = await r2.get(...args);
      if (object === null || !('body' in object)) return object;
      // The body hands out its first chunk, then counts its next read as an 'r2.body' call.
      const reader = (object.body as ReadableStream<Uint8Array>).getReader();
      let reads = 0;
      const body = new ReadableStream<Uint8Array>({
        async pull(controller) {
          if (reads++ === 1) await hit('r2.body');
          const { done, value } = await reader.read();
          if (done) controller.close();
          else controller.enqueue(value);
        },
        cancel: (reason) => reader.cancel(reason),
      });
      return new Proxy(object, {
        get: (target, prop) => (prop === 'body' ? body : Reflect.get(target, prop, target)),
      });
    },
    delete: async (keys: string | string[]) => {
      await hit('r2.delete');
      return r2.delete(keys);
    },
    list: async (options?: R2ListOptions) => {
      await hit('r2.list');
      return r2.list(options);
    },
    createMultipartUpload: r2.createMultipartUpload.bind(r2),
    resumeMultipartUpload: r2.resumeMultipartUpload.bind(r2),
  } as unknown as R2Bucket;

  // Wrapped statements remember the real ones, which a real batch needs.
  const realStatement = new WeakMap<object, D1PreparedStatement>();
  const sqlOf = new WeakMap<object, string>();
  const wrap = (stmt: D1PreparedStatement, sql: string): D1PreparedStatement => {
    const run =
      <K extends 'run' | 'all' | 'first' | 'raw'>(method: K) =>
      async (...args: unknown[]) => {
        await hit('d1', [sql]);
        return (stmt[method] as (...a: unknown[]) => unknown)(...args);
      };
    const wrapped = {
      bind: (...values: unknown[]) => wrap(stmt.bind(...values), sql),
      run: run('run'),
      all: run('all'),
      first: run('first'),
      raw: run('raw'),
    } as unknown as D1PreparedStatement;
    realStatement.set(wrapped, stmt);
    sqlOf.set(wrapped, sql);
    return wrapped;
  };
  const d1 = base.DB;
  const db = {
    prepare: (sql: string) => wrap(d1.prepare(sql), sql),
    batch: async (statements: D1PreparedStatement[]) => {
      await hit(
        'd1',
        statements.map((s) => sqlOf.get(s) ?? ''),
      );
      return d1.batch(statements.map((s) => realStatement.get(s) ?? s));
    },
    exec: (query: string) => d1.exec(query),
    withSession: d1.withSession.bind(d1),
    dump: d1.dump.bind(d1),
  } as unknown as D1Database;

  return {
    env: { ...base, BLOBS: blobs, DB: db },
    fired: () => fired,
    stalled: () => stalledOnce,
    release: () => releaseGate(),
  };
}
