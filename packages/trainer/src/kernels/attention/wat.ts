/**
 * @module
 * Writes the WebAssembly text of the Transformer's fused attention for width-1 heads, forward and
 * backward, with 128-bit SIMD (f32x4: four heads per vector).
 *
 * Layout. The kernels work on "packed" tensors: [B, L, H] (H innermost, as tfjs holds them) becomes
 * [B, ⌈H/4⌉, L, 4] — one task per (batch item, group of four heads), each task's L vectors contiguous —
 * so the inner loop over keys reads 16 consecutive bytes per key and a task's keys and values (490 × 16
 * bytes each) stay in L1. `pack` / `unpack` convert (the last group's missing heads are zeros; `unpack`
 * writes whole vectors in row order, so it spills up to 3 floats past each row, which the next row then
 * overwrites: the destination needs 16 bytes of slack and one thread).
 *
 * Forward, one pass per query. With width-1 heads the score is s_j = q·k_j, so the row maximum over the
 * visible keys is exact without a first pass: q ≥ 0 ? q·max k : q·min k (a running prefix max/min of
 * the keys in the causal case). Each query then sums p_j = exp(s_j − m) and p_j·v_j in one sweep and
 * stores O = Σ p v / Σ p, the maximum m and 1/Σ p (the backward's P = exp(s − m)·(1/Σ p) needs no log).
 *
 * Backward, recomputing P: with a = P·dO and D = dO·O (width 1), dS = P·(dO·v − D) = a·(v − O), so per
 * visible (query, key): dV_j += a, dQ_i += dS·k_j, dK_j += dS·q_i.
 *
 * Both sweep the keys for four queries at once (rows i..i + 3; in the causal case rows 1–3 then take
 * the one to three keys only they see): four independent dependency chains per key keep the vector
 * units busy, each key and value is loaded once per four rows, and the backward adds the four rows'
 * dV_j and dK_j contributions in registers before one read-modify-write of each.
 *
 * exp. Scores are taken in base 2 (q is scaled by log2 e once per query), t = q'·k − m' ≤ 0, clamped at
 * −125 (2^−125 ≈ 2e−38: still a normal float, and nothing a sum of ≥ 1 notices). t = n + f with n the
 * nearest integer (adding 1.5·2^23 rounds and leaves n in the low mantissa bits, which a shift by 23
 * moves into the exponent field) and f ∈ [−½, ½]; 2^f is a degree-5 polynomial (interpolating at
 * Chebyshev nodes: ≤ ~1.1e−7 off) evaluated as (c0 + c1·f) + f²·((c2 + c3·f) + f²·(c4 + c5·f)) —
 * a chain of 4 dependent steps instead of Horner's 10, which is what bounds the loop — then 2^n is
 * added to its exponent.
 *
 * Causal: key j is visible to query i when j ≤ i + Lk − Lq (the offset lets incremental decoding pass
 * only the newest queries); the caller guarantees Lk ≥ Lq so every query sees at least one key.
 */

/** Floats per vector; a packed row is one vector. */
export const LANES = 4;

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/** Solves the square system a·x = b (Gaussian elimination with partial pivoting, in doubles). */
function solve(a: number[][], b: number[]): number[] {
  const n = b.length;
  const m = a.map((row, i) => [...row, b[i]!]);
  for (let c = 0; c < n; c++) {
    const pivot = range(n - c).reduce(
      (best, k) => (Math.abs(m[c + k]![c]!) > Math.abs(m[best]![c]!) ? c + k : best),
      c,
    );
    [m[c], m[pivot]] = [m[pivot]!, m[c]!];
    for (let r = c + 1; r < n; r++) {
      const f = m[r]![c]! / m[c]![c]!;
      for (let k = c; k <= n; k++) m[r]![k]! -= f * m[c]![k]!;
    }
  }
  const x = new Array<number>(n).fill(0);
  for (let r = n - 1; r >= 0; r--) {
    x[r] =
      (m[r]![n]! - range(n - r - 1).reduce((s, k) => s + m[r]![r + 1 + k]! * x[r + 1 + k]!, 0)) / m[r]![r]!;
  }
  return x;
}

/**
 * Coefficients of the degree-5 polynomial through 2^f at the 6 Chebyshev nodes of [−½, ½]: within
 * ~1.1e−7 of 2^f there (interpolation error ≤ (ln 2)^6·√2 / (2^5·6!·2^6)), as close as the degree-6
 * Taylor polynomial for two operations fewer per exp.
 */
const EXP2_COEFFICIENTS = (() => {
  const nodes = range(6).map((k) => 0.5 * Math.cos(((2 * k + 1) * Math.PI) / 12));
  return solve(
    nodes.map((x) => range(6).map((i) => x ** i)),
    nodes.map((x) => 2 ** x),
  );
})();

const splat = (x: number) => `(v128.const f32x4 ${x} ${x} ${x} ${x})`;

/**
 * The constants exp2 uses, as locals set once per call: V8 rebuilds a v128.const from immediates at
 * every use inside a loop, which costs more than the arithmetic it feeds.
 */
const EXP2_CONSTANTS = [
  ['$lo', -125],
  ['$round', 12582912],
  ...EXP2_COEFFICIENTS.map((c, i) => [`$c${i}`, c] as const),
] as const;

const exp2Locals = EXP2_CONSTANTS.map(([name]) => `(local ${name} v128)`).join(' ');
const exp2Setup = EXP2_CONSTANTS.map(([name, x]) => `(local.set ${name} ${splat(x)})`).join('\n');

/** Sets `$p` to 2^`$t` for t ≤ 0 (uses `$n`, `$f` as scratch). */
function exp2(): string {
  const lin = (i: number) =>
    `(f32x4.add (local.get $c${i}) (f32x4.mul (local.get $c${i + 1}) (local.get $f)))`;
  const poly = `(f32x4.add ${lin(0)} (f32x4.mul (local.get $f2) (f32x4.add ${lin(2)} (f32x4.mul (local.get $f2) ${lin(4)}))))`;
  return `
(local.set $t (f32x4.pmax (local.get $lo) (local.get $t)))
(local.set $n (f32x4.add (local.get $t) (local.get $round)))
(local.set $f (f32x4.sub (local.get $t) (f32x4.sub (local.get $n) (local.get $round))))
(local.set $f2 (f32x4.mul (local.get $f) (local.get $f)))
(local.set $p (i32x4.add ${poly} (i32x4.shl (local.get $n) (i32.const 23))))`;
}

const LOG2E = Math.LOG2E;

/** Per-task pointers: base + task · rows · 16. */
const taskBase = (name: string, rows: string) =>
  `(local.set $${name}b (i32.add (local.get $${name}) (i32.mul (local.get $task) (i32.shl (local.get ${rows}) (i32.const 4)))))`;

/** Loads the key and value at byte offset $x of the task's keys. */
const loadKeyValue = `
(local.set $kv (v128.load (i32.add (local.get $kb) (local.get $x))))
(local.set $vv (v128.load (i32.add (local.get $vb) (local.get $x))))`;

/** One key for rows `rs` of a forward row block: l_r += p, acc_r += p·v. */
const forwardStep = (rs: number[]) =>
  loadKeyValue +
  rs
    .map(
      (r) => `
(local.set $t (f32x4.sub (f32x4.mul (local.get $q2_${r}) (local.get $kv)) (local.get $m2_${r})))
${exp2()}
(local.set $l_${r} (f32x4.add (local.get $l_${r}) (local.get $p)))
(local.set $acc_${r} (f32x4.add (local.get $acc_${r}) (f32x4.mul (local.get $p) (local.get $vv))))`,
    )
    .join('\n');

/**
 * One key for rows `rs` of a backward row block: the rows' dV and dK contributions are summed in
 * registers, so dV_j and dK_j are read and written once per block rather than once per row.
 */
const backwardStep = (rs: number[]) =>
  loadKeyValue +
  rs
    .map(
      (r, n) => `
(local.set $t (f32x4.sub (f32x4.mul (local.get $q2_${r}) (local.get $kv)) (local.get $m2_${r})))
${exp2()}
(local.set $a (f32x4.mul (local.get $p) (local.get $c_${r})))
(local.set $ds (f32x4.mul (local.get $a) (f32x4.sub (local.get $vv) (local.get $o_${r}))))
(local.set $dq_${r} (f32x4.add (local.get $dq_${r}) (f32x4.mul (local.get $ds) (local.get $kv))))
${
  n === 0
    ? `(local.set $sv (local.get $a))
(local.set $sk (f32x4.mul (local.get $ds) (local.get $qv_${r})))`
    : `(local.set $sv (f32x4.add (local.get $sv) (local.get $a)))
(local.set $sk (f32x4.add (local.get $sk) (f32x4.mul (local.get $ds) (local.get $qv_${r}))))`
}`,
    )
    .join('\n') +
  `
(v128.store (i32.add (local.get $dvb) (local.get $x)) (f32x4.add (v128.load (i32.add (local.get $dvb) (local.get $x))) (local.get $sv)))
(v128.store (i32.add (local.get $dkb) (local.get $x)) (f32x4.add (v128.load (i32.add (local.get $dkb) (local.get $x))) (local.get $sk)))`;

/**
 * The sweep of a row block over the keys every row of it sees ([0, $count)), then, in the causal case,
 * key $count for rows 1.., key $count + 1 for rows 2.., and so on.
 */
function sweep(rowCount: number, step: (rs: number[]) => string): string {
  const all = range(rowCount);
  return `
(local.set $x (i32.const 0))
(local.set $end (i32.shl (local.get $count) (i32.const 4)))
(loop $jloop
  ${step(all)}
  (local.set $x (i32.add (local.get $x) (i32.const 16)))
  (br_if $jloop (i32.lt_u (local.get $x) (local.get $end))))
${
  rowCount > 1
    ? `(if (local.get $causal) (then ${range(rowCount - 1)
        .map(
          (e) =>
            `${e === 0 ? '' : '(local.set $x (i32.add (local.get $x) (i32.const 16)))'} ${step(all.slice(e + 1))}`,
        )
        .join('\n')}))`
    : ''
}`;
}

/** $count: the keys every row of the block starting at query $i sees (row 0's prefix when causal). */
const blockCount = `
(local.set $count (select
  (i32.add (i32.add (local.get $i) (local.get $off)) (i32.const 1))
  (local.get $lk)
  (local.get $causal)))`;

/** Forward of the row block of `rowCount` queries starting at $i. */
function forwardBlock(rowCount: number): string {
  const rows = range(rowCount).map(
    (r) => `
(if (local.get $causal) (then
  ;; the keys row ${r} sees: the prefix up to key i + ${r} + offset
  (local.set $upto (i32.add (i32.add (local.get $i) (local.get $off)) (i32.const ${r + 1})))
  (block $sdone (loop $sloop
    (br_if $sdone (i32.ge_u (local.get $seen) (local.get $upto)))
    (local.set $kv (v128.load (i32.add (local.get $kb) (i32.shl (local.get $seen) (i32.const 4)))))
    (local.set $kmax (f32x4.pmax (local.get $kmax) (local.get $kv)))
    (local.set $kmin (f32x4.pmin (local.get $kmin) (local.get $kv)))
    (local.set $seen (i32.add (local.get $seen) (i32.const 1)))
    (br $sloop)))))
(local.set $q2_${r} (f32x4.mul (v128.load offset=${16 * r} (i32.add (local.get $qb) (local.get $at))) ${splat(LOG2E)}))
(local.set $m2_${r} (f32x4.mul (local.get $q2_${r})
  (v128.bitselect (local.get $kmax) (local.get $kmin) (f32x4.ge (local.get $q2_${r}) ${splat(0)}))))
(local.set $l_${r} ${splat(0)})
(local.set $acc_${r} ${splat(0)})`,
  );
  const stores = range(rowCount).map(
    (r) => `
(v128.store offset=${16 * r} (i32.add (local.get $ob) (local.get $at)) (f32x4.div (local.get $acc_${r}) (local.get $l_${r})))
(v128.store offset=${16 * r} (i32.add (local.get $mb) (local.get $at)) (local.get $m2_${r}))
(v128.store offset=${16 * r} (i32.add (local.get $rb) (local.get $at)) (f32x4.div ${splat(1)} (local.get $l_${r})))`,
  );
  return `(local.set $at (i32.shl (local.get $i) (i32.const 4)))
${rows.join('\n')}
${blockCount}
${sweep(rowCount, forwardStep)}
${stores.join('\n')}`;
}

/** Backward of the row block of `rowCount` queries starting at $i. */
function backwardBlock(rowCount: number): string {
  const rows = range(rowCount).map(
    (r) => `
(local.set $qv_${r} (v128.load offset=${16 * r} (i32.add (local.get $qb) (local.get $at))))
(local.set $q2_${r} (f32x4.mul (local.get $qv_${r}) ${splat(LOG2E)}))
(local.set $m2_${r} (v128.load offset=${16 * r} (i32.add (local.get $mb) (local.get $at))))
(local.set $c_${r} (f32x4.mul (v128.load offset=${16 * r} (i32.add (local.get $rb) (local.get $at)))
  (v128.load offset=${16 * r} (i32.add (local.get $dob) (local.get $at)))))
(local.set $o_${r} (v128.load offset=${16 * r} (i32.add (local.get $ob) (local.get $at))))
(local.set $dq_${r} ${splat(0)})`,
  );
  const stores = range(rowCount).map(
    (r) => `(v128.store offset=${16 * r} (i32.add (local.get $dqb) (local.get $at)) (local.get $dq_${r}))`,
  );
  return `(local.set $at (i32.shl (local.get $i) (i32.const 4)))
${rows.join('\n')}
${blockCount}
${sweep(rowCount, backwardStep)}
${stores.join('\n')}`;
}

/** Queries four at a time (one sweep over the keys serves them all), then the last Lq mod 4 one by one. */
const rowBlocks = (block: (rowCount: number) => string) => `
(local.set $i (i32.const 0))
(block $qdone (loop $qloop
  (br_if $qdone (i32.gt_u (i32.add (local.get $i) (i32.const 4)) (local.get $lq)))
  ${block(4)}
  (local.set $i (i32.add (local.get $i) (i32.const 4)))
  (br $qloop)))
(block $odone (loop $oloop
  (br_if $odone (i32.ge_u (local.get $i) (local.get $lq)))
  ${block(1)}
  (local.set $i (i32.add (local.get $i) (i32.const 1)))
  (br $oloop)))`;

const blockLocals = (names: string[]) =>
  range(4)
    .flatMap((r) => names.map((n) => `(local $${n}_${r} v128)`))
    .join(' ');

/**
 * forward(q, k, v, o, m, r, Lq, Lk, causal, task0, task1): for each task in [task0, task1), packed
 * q [Lq], k, v [Lk] → o, m (base-2 row maximum), r (1 / row sum), all [Lq] vectors.
 */
const forward = `
(func (export "forward") (param $q i32) (param $k i32) (param $v i32) (param $o i32) (param $m i32) (param $r i32)
  (param $lq i32) (param $lk i32) (param $causal i32) (param $task0 i32) (param $task1 i32)
(local $task i32) (local $qb i32) (local $kb i32) (local $vb i32) (local $ob i32) (local $mb i32) (local $rb i32)
(local $i i32) (local $at i32) (local $count i32) (local $seen i32) (local $upto i32) (local $x i32) (local $end i32) (local $off i32)
(local $kmax v128) (local $kmin v128) (local $kv v128) (local $vv v128) ${blockLocals(['q2', 'm2', 'l', 'acc'])}
(local $t v128) (local $n v128) (local $f v128) (local $f2 v128) (local $p v128) ${exp2Locals}
${exp2Setup}
(local.set $off (i32.sub (local.get $lk) (local.get $lq)))
(local.set $task (local.get $task0))
(block $tdone (loop $tloop
  (br_if $tdone (i32.ge_u (local.get $task) (local.get $task1)))
  ${taskBase('q', '$lq')} ${taskBase('o', '$lq')} ${taskBase('m', '$lq')} ${taskBase('r', '$lq')}
  ${taskBase('k', '$lk')} ${taskBase('v', '$lk')}
  (local.set $kmax (v128.load (local.get $kb)))
  (local.set $kmin (local.get $kmax))
  (local.set $seen (i32.const 1))
  (if (i32.eqz (local.get $causal)) (then
    ;; every query sees every key: one max/min over all of them
    (block $mdone (loop $mloop
      (br_if $mdone (i32.ge_u (local.get $seen) (local.get $lk)))
      (local.set $kv (v128.load (i32.add (local.get $kb) (i32.shl (local.get $seen) (i32.const 4)))))
      (local.set $kmax (f32x4.pmax (local.get $kmax) (local.get $kv)))
      (local.set $kmin (f32x4.pmin (local.get $kmin) (local.get $kv)))
      (local.set $seen (i32.add (local.get $seen) (i32.const 1)))
      (br $mloop)))))
  ${rowBlocks(forwardBlock)}
  (local.set $task (i32.add (local.get $task) (i32.const 1)))
  (br $tloop)))
)`;

/**
 * backward(q, k, v, o, m, r, dO, dQ, dK, dV, Lq, Lk, causal, task0, task1): the gradients of forward's
 * o for each task in [task0, task1), recomputing P from m and r.
 */
const backward = `
(func (export "backward") (param $q i32) (param $k i32) (param $v i32) (param $o i32) (param $m i32) (param $r i32)
  (param $do i32) (param $dq i32) (param $dk i32) (param $dv i32)
  (param $lq i32) (param $lk i32) (param $causal i32) (param $task0 i32) (param $task1 i32)
(local $task i32) (local $qb i32) (local $kb i32) (local $vb i32) (local $ob i32) (local $mb i32) (local $rb i32)
(local $dob i32) (local $dqb i32) (local $dkb i32) (local $dvb i32)
(local $i i32) (local $at i32) (local $count i32) (local $x i32) (local $end i32) (local $off i32)
(local $kv v128) (local $vv v128) (local $a v128) (local $ds v128) (local $sv v128) (local $sk v128)
${blockLocals(['qv', 'q2', 'm2', 'c', 'o', 'dq'])}
(local $t v128) (local $n v128) (local $f v128) (local $f2 v128) (local $p v128) ${exp2Locals}
${exp2Setup}
(local.set $off (i32.sub (local.get $lk) (local.get $lq)))
(local.set $task (local.get $task0))
(block $tdone (loop $tloop
  (br_if $tdone (i32.ge_u (local.get $task) (local.get $task1)))
  ${taskBase('q', '$lq')} ${taskBase('o', '$lq')} ${taskBase('m', '$lq')} ${taskBase('r', '$lq')}
  ${taskBase('do', '$lq')} ${taskBase('dq', '$lq')}
  ${taskBase('k', '$lk')} ${taskBase('v', '$lk')} ${taskBase('dk', '$lk')} ${taskBase('dv', '$lk')}
  (memory.fill (local.get $dkb) (i32.const 0) (i32.shl (local.get $lk) (i32.const 4)))
  (memory.fill (local.get $dvb) (i32.const 0) (i32.shl (local.get $lk) (i32.const 4)))
  ${rowBlocks(backwardBlock)}
  (local.set $task (i32.add (local.get $task) (i32.const 1)))
  (br $tloop)))
)`;

/** Lane mask for the last group of `$h` heads: lanes below h mod 4 (all lanes when h is a multiple of 4). */
const lastMask = `
(local.set $mask (i32x4.lt_s (v128.const i32x4 0 1 2 3)
  (i32x4.splat (select (i32.and (local.get $h) (i32.const 3)) (i32.const 4) (i32.and (local.get $h) (i32.const 3))))))`;

/** pack(src, dst, B, L, H): [B, L, H] → [B, ⌈H/4⌉, L, 4], missing heads zero (reads ≤ 12 bytes past src). */
const pack = `
(func (export "pack") (param $src i32) (param $dst i32) (param $b i32) (param $l i32) (param $h i32)
(local $groups i32) (local $at i32) (local $step i32) (local $row i32) (local $rows i32) (local $g i32) (local $s i32) (local $mask v128) (local $x v128)
(local.set $groups (i32.shr_u (i32.add (local.get $h) (i32.const 3)) (i32.const 2)))
${lastMask}
(local.set $rows (i32.mul (local.get $b) (local.get $l)))
(local.set $step (i32.shl (local.get $l) (i32.const 4)))
(block $rdone (loop $rloop
  (br_if $rdone (i32.ge_u (local.get $row) (local.get $rows)))
  (local.set $s (i32.add (local.get $src) (i32.shl (i32.mul (local.get $row) (local.get $h)) (i32.const 2))))
  (local.set $at (i32.shl (i32.add (i32.mul (i32.mul (i32.div_u (local.get $row) (local.get $l)) (local.get $groups)) (local.get $l))
    (i32.rem_u (local.get $row) (local.get $l))) (i32.const 4)))
  (local.set $g (i32.const 0))
  (block $gdone (loop $gloop
    (br_if $gdone (i32.ge_u (local.get $g) (local.get $groups)))
    (local.set $x (v128.load (i32.add (local.get $s) (i32.shl (local.get $g) (i32.const 4)))))
    (if (i32.eq (local.get $g) (i32.sub (local.get $groups) (i32.const 1)))
      (then (local.set $x (v128.and (local.get $x) (local.get $mask)))))
    (v128.store
      (i32.add (local.get $dst) (i32.add (local.get $at) (i32.mul (local.get $g) (local.get $step))))
      (local.get $x))
    (local.set $g (i32.add (local.get $g) (i32.const 1)))
    (br $gloop)))
  (local.set $row (i32.add (local.get $row) (i32.const 1)))
  (br $rloop)))
)`;

/** unpack(src, dst, B, L, H): [B, ⌈H/4⌉, L, 4] → [B, L, H] (writes ≤ 12 bytes past dst). */
const unpack = `
(func (export "unpack") (param $src i32) (param $dst i32) (param $b i32) (param $l i32) (param $h i32)
(local $groups i32) (local $at i32) (local $step i32) (local $row i32) (local $rows i32) (local $g i32) (local $d i32)
(local.set $groups (i32.shr_u (i32.add (local.get $h) (i32.const 3)) (i32.const 2)))
(local.set $rows (i32.mul (local.get $b) (local.get $l)))
(local.set $step (i32.shl (local.get $l) (i32.const 4)))
(block $rdone (loop $rloop
  (br_if $rdone (i32.ge_u (local.get $row) (local.get $rows)))
  (local.set $d (i32.add (local.get $dst) (i32.shl (i32.mul (local.get $row) (local.get $h)) (i32.const 2))))
  (local.set $at (i32.shl (i32.add (i32.mul (i32.mul (i32.div_u (local.get $row) (local.get $l)) (local.get $groups)) (local.get $l))
    (i32.rem_u (local.get $row) (local.get $l))) (i32.const 4)))
  (local.set $g (i32.const 0))
  (block $gdone (loop $gloop
    (br_if $gdone (i32.ge_u (local.get $g) (local.get $groups)))
    (v128.store (i32.add (local.get $d) (i32.shl (local.get $g) (i32.const 4)))
      (v128.load (i32.add (local.get $src) (i32.add (local.get $at) (i32.mul (local.get $g) (local.get $step))))))
    (local.set $g (i32.add (local.get $g) (i32.const 1)))
    (br $gloop)))
  (local.set $row (i32.add (local.get $row) (i32.const 1)))
  (br $rloop)))
)`;

/** The whole module; `shared` imports a shared memory (worker threads), otherwise a plain one. */
export function attentionWat(options: { shared: boolean }): string {
  return `(module
(import "env" "memory" (memory 1 65536${options.shared ? ' shared' : ''}))
${forward}
${backward}
${pack}
${unpack}
)
`;
}
