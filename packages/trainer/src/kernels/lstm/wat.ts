/**
 * @module
 * Writes the WebAssembly text of the LSTM recurrence's kernels (lstm.ts runs them) with 128-bit SIMD:
 *
 *   forward      per sample and step: z = projected + h_{t−1}·W_hh, the gates i, f, g, o, the cell and
 *                hidden state; keeps the activated gates, cell and hidden state as the backward's trace
 *   backward     through time, per sample from the last step: d(projected) = dz, dc carried through the
 *                forget gate, dh_{t−1} = dz·W_hhᵀ
 *   weightGrad   d(W_hh) = Σ h_{t−1}ᵀ·dz_t over all samples and steps t ≥ 1, in blocks of rows
 *
 * Why generated text: the products are unrolled over 8 f32x4 accumulators (8 of x64's 16 vector
 * registers, with the loaded W vectors and the broadcast h value beside them), and the gate functions
 * are shared helpers; writing that by hand would be error-prone and unreviewable.
 *
 * Numerics: the products accumulate in f32, like tfjs's own matMul; sigmoid is 1/(1 + e^(−x)) with e^x
 * by range reduction (x = n·ln2 + r, |r| ≤ ln2/2) and Cephes' degree-6 polynomial for e^r (~1 ulp),
 * 2^n built in the exponent bits; tanh(x) = 2·sigmoid(2x) − 1 (absolute error ~1e-7). d(W_hh) sums
 * 16,000 rows at batch 32: each block of rows is summed in f32 registers and added to an f64
 * accumulator, so the rounding of the long sum stays out of the gradient.
 *
 * All addresses are byte offsets into the imported memory; rows are row-major and channels-last:
 * gates/projected/dz [B, T, 4H] (gate order i, f, g, o), cell/hidden/dy [B, T, H], W [H, 4H], Wᵀ [4H, H].
 * H must be a multiple of 4 (whole f32x4 vectors per gate); lstm.ts keeps other sizes on the JS path.
 */

/** Rows of dz summed in registers before they are added to d(W_hh)'s f64 accumulator. */
export const WEIGHT_GRAD_BLOCK = 32;

const range = (n: number) => Array.from({ length: n }, (_, i) => i);
const splat = (x: number) => `(v128.const f32x4 ${x} ${x} ${x} ${x})`;
const get = (name: string) => `(local.get $${name})`;
const add = (a: string, b: string) => `(i32.add ${a} ${b})`;
const mul = (a: string, b: string) => `(i32.mul ${a} ${b})`;

/** e^x, sigmoid and tanh on four lanes. */
const GATE_FUNCTIONS = `
  (func $exp (param $x v128) (result v128) (local $n v128) (local $r v128) (local $p v128)
    (local.set $x (f32x4.min (f32x4.max (local.get $x) ${splat(-87)}) ${splat(88)}))
    (local.set $n (f32x4.nearest (f32x4.mul (local.get $x) ${splat(Math.LOG2E)})))
    (local.set $r (f32x4.sub (f32x4.sub (local.get $x) (f32x4.mul (local.get $n) ${splat(0.693359375)}))
                             (f32x4.mul (local.get $n) ${splat(-2.1219444e-4)})))
    (local.set $p ${splat(1.98756915e-4)})
    ${[1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1]
      .map((c) => `(local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) ${splat(c)}))`)
      .join('\n    ')}
    (local.set $p (f32x4.add (f32x4.add (f32x4.mul (f32x4.mul (local.get $p) (local.get $r)) (local.get $r))
                                        (local.get $r)) ${splat(1)}))
    (f32x4.mul (local.get $p)
      (i32x4.shl (i32x4.add (i32x4.trunc_sat_f32x4_s (local.get $n)) (v128.const i32x4 127 127 127 127)) (i32.const 23))))
  (func $sigmoid (param $x v128) (result v128)
    (f32x4.div ${splat(1)} (f32x4.add ${splat(1)} (call $exp (f32x4.neg (local.get $x))))))
  (func $tanh (param $x v128) (result v128)
    (f32x4.sub (f32x4.mul ${splat(2)} (call $sigmoid (f32x4.add (local.get $x) (local.get $x)))) ${splat(1)}))`;

/**
 * out[0 .. width) (+)= Σ_k x[k]·M[k, 0 .. width) for k < depth: M row-major with row stride $mRow bytes,
 * x at $x (f32, contiguous), out at $out. Column chunks of 8 vectors, then single vectors. `init` says
 * whether out starts from its stored value (forward: z = projected + …) or from zero (backward).
 * Uses the locals $col $colEnd $xp $xEnd $mp $s and $a0…$a7.
 */
function rowTimesMatrix(width: string, depth: string, init: 'load' | 'zero'): string {
  const chunk = (nv: number) => {
    const accs = range(nv);
    return `
      (block $done${nv} (loop $chunk${nv}
        (br_if $done${nv} (i32.gt_u (i32.add (local.get $col) (i32.const ${nv * 16})) (local.get $colEnd)))
        ${accs
          .map((v) =>
            init === 'load'
              ? `(local.set $a${v} (v128.load offset=${v * 16} (i32.add (local.get $out) (local.get $col))))`
              : `(local.set $a${v} (v128.const i32x4 0 0 0 0))`,
          )
          .join('\n        ')}
        (local.set $xp (local.get $x))
        (local.set $mp (i32.add (local.get $m) (local.get $col)))
        (loop $k${nv}
          (local.set $s (v128.load32_splat (local.get $xp)))
          ${accs
            .map(
              (v) =>
                `(local.set $a${v} (f32x4.add (local.get $a${v}) (f32x4.mul (local.get $s) (v128.load offset=${v * 16} (local.get $mp)))))`,
            )
            .join('\n          ')}
          (local.set $xp (i32.add (local.get $xp) (i32.const 4)))
          (local.set $mp (i32.add (local.get $mp) (local.get $mRow)))
          (br_if $k${nv} (i32.lt_u (local.get $xp) (local.get $xEnd))))
        ${accs
          .map(
            (v) =>
              `(v128.store offset=${v * 16} (i32.add (local.get $out) (local.get $col)) (local.get $a${v}))`,
          )
          .join('\n        ')}
        (local.set $col (i32.add (local.get $col) (i32.const ${nv * 16})))
        (br $chunk${nv})))`;
  };
  return `
      (local.set $col (i32.const 0))
      (local.set $colEnd ${width})
      (local.set $xEnd (i32.add (local.get $x) ${depth}))
      ${chunk(8)}
      ${chunk(1)}`;
}

/**
 * The same product for four rows at once (four samples at one step), so each loaded vector of M feeds
 * four rows: out_r[0 .. width) (+)= Σ_k X[k][r]·M[k, …] with X the four rows interleaved k-major at $x
 * (16 bytes per k, so the four values of one k are broadcast from one address with immediate offsets).
 * Tiles of 4 rows × 2 vectors (8 accumulators), then 4 rows × 1 vector. Uses $col $colEnd $xp $xEnd $mp
 * $s0…$s3 $q00…$q31 and the row addresses $o0…$o3.
 */
function quadTimesMatrix(width: string, depth: string, init: 'load' | 'zero'): string {
  const chunk = (nv: number) => {
    const tiles = range(4).flatMap((r) => range(nv).map((v) => [r, v] as const));
    return `
      (block $qdone${nv} (loop $qchunk${nv}
        (br_if $qdone${nv} (i32.gt_u (i32.add (local.get $col) (i32.const ${nv * 16})) (local.get $colEnd)))
        ${tiles
          .map(([r, v]) =>
            init === 'load'
              ? `(local.set $q${r}${v} (v128.load offset=${v * 16} (i32.add (local.get $o${r}) (local.get $col))))`
              : `(local.set $q${r}${v} (v128.const i32x4 0 0 0 0))`,
          )
          .join('\n        ')}
        (local.set $xp (local.get $x))
        (local.set $mp (i32.add (local.get $m) (local.get $col)))
        (loop $qk${nv}
          ${range(4)
            .map((r) => `(local.set $s${r} (v128.load32_splat offset=${r * 4} (local.get $xp)))`)
            .join(' ')}
          ${range(nv)
            .map((v) => `(local.set $w${v} (v128.load offset=${v * 16} (local.get $mp)))`)
            .join(' ')}
          ${tiles
            .map(
              ([r, v]) =>
                `(local.set $q${r}${v} (f32x4.add (local.get $q${r}${v}) (f32x4.mul (local.get $s${r}) (local.get $w${v}))))`,
            )
            .join('\n          ')}
          (local.set $xp (i32.add (local.get $xp) (i32.const 16)))
          (local.set $mp (i32.add (local.get $mp) (local.get $mRow)))
          (br_if $qk${nv} (i32.lt_u (local.get $xp) (local.get $xEnd))))
        ${tiles
          .map(
            ([r, v]) =>
              `(v128.store offset=${v * 16} (i32.add (local.get $o${r}) (local.get $col)) (local.get $q${r}${v}))`,
          )
          .join('\n        ')}
        (local.set $col (i32.add (local.get $col) (i32.const ${nv * 16})))
        (br $qchunk${nv})))`;
  };
  return `
      (local.set $col (i32.const 0))
      (local.set $colEnd ${width})
      (local.set $xEnd (i32.add (local.get $x) (i32.shl ${depth} (i32.const 2))))
      ${chunk(2)}
      ${chunk(1)}`;
}

/** Interleaves four rows of `bytes` bytes at $o0…$o3 … into X at $x, k-major (see quadTimesMatrix). */
function interleave(rows: readonly string[], bytes: string): string {
  return `
      (local.set $col (i32.const 0))
      (loop $interleave
        ${rows
          .map(
            (row, r) =>
              `(f32.store offset=${r * 4} (i32.add (local.get $x) (i32.shl (local.get $col) (i32.const 2)))
          (f32.load (i32.add ${row} (local.get $col))))`,
          )
          .join('\n        ')}
        (local.set $col (i32.add (local.get $col) (i32.const 4)))
        (br_if $interleave (i32.lt_u (local.get $col) ${bytes})))`;
}

const PRODUCT_LOCALS = `(local $col i32) (local $colEnd i32) (local $xp i32) (local $xEnd i32) (local $mp i32)
    (local $x i32) (local $m i32) (local $mRow i32) (local $out i32) (local $s v128)
    ${range(8)
      .map((v) => `(local $a${v} v128)`)
      .join(' ')}
    ${range(4)
      .map((r) => `(local $o${r} i32) (local $s${r} v128) (local $q${r}0 v128) (local $q${r}1 v128)`)
      .join(' ')}
    (local $w0 v128) (local $w1 v128)`;

/** One step's gates, cell and hidden state from its pre-activations z (in place → activated gates). */
const CELL = `
  (func $cell (param $z i32) (param $cPrev i32) (param $cOut i32) (param $hOut i32) (param $hb i32)
    (local $u i32) (local $i v128) (local $f v128) (local $g v128) (local $o v128) (local $c v128)
    (loop $uLoop
      (local.set $i (call $sigmoid (v128.load (i32.add (local.get $z) (local.get $u)))))
      (local.set $f (call $sigmoid (v128.load (i32.add (i32.add (local.get $z) (local.get $hb)) (local.get $u)))))
      (local.set $g (call $tanh (v128.load (i32.add (i32.add (local.get $z) (i32.shl (local.get $hb) (i32.const 1))) (local.get $u)))))
      (local.set $o (call $sigmoid (v128.load (i32.add (i32.add (local.get $z) (i32.mul (local.get $hb) (i32.const 3))) (local.get $u)))))
      (v128.store (i32.add (local.get $z) (local.get $u)) (local.get $i))
      (v128.store (i32.add (i32.add (local.get $z) (local.get $hb)) (local.get $u)) (local.get $f))
      (v128.store (i32.add (i32.add (local.get $z) (i32.shl (local.get $hb) (i32.const 1))) (local.get $u)) (local.get $g))
      (v128.store (i32.add (i32.add (local.get $z) (i32.mul (local.get $hb) (i32.const 3))) (local.get $u)) (local.get $o))
      (local.set $c (f32x4.add (f32x4.mul (local.get $f) (v128.load (i32.add (local.get $cPrev) (local.get $u))))
                               (f32x4.mul (local.get $i) (local.get $g))))
      (v128.store (i32.add (local.get $cOut) (local.get $u)) (local.get $c))
      (v128.store (i32.add (local.get $hOut) (local.get $u)) (f32x4.mul (local.get $o) (call $tanh (local.get $c))))
      (local.set $u (i32.add (local.get $u) (i32.const 16)))
      (br_if $uLoop (i32.lt_u (local.get $u) (local.get $hb)))))`;

/** One step's dz (into d) from its trace, dy and the carried dh, dc; dc ← dc·f for the step before. */
const CELL_GRAD = `
  (func $cellGrad (param $z i32) (param $d i32) (param $cRow i32) (param $cPrev i32) (param $dyRow i32)
      (param $dh i32) (param $dc i32) (param $hb i32)
    (local $u i32) (local $i v128) (local $f v128) (local $g v128) (local $o v128)
    (local $tc v128) (local $dhv v128) (local $dcv v128)
    (loop $uLoop
      (local.set $i (v128.load (i32.add (local.get $z) (local.get $u))))
      (local.set $f (v128.load (i32.add (i32.add (local.get $z) (local.get $hb)) (local.get $u))))
      (local.set $g (v128.load (i32.add (i32.add (local.get $z) (i32.shl (local.get $hb) (i32.const 1))) (local.get $u))))
      (local.set $o (v128.load (i32.add (i32.add (local.get $z) (i32.mul (local.get $hb) (i32.const 3))) (local.get $u))))
      (local.set $tc (call $tanh (v128.load (i32.add (local.get $cRow) (local.get $u)))))
      (local.set $dhv (f32x4.add (v128.load (i32.add (local.get $dyRow) (local.get $u)))
                                 (v128.load (i32.add (local.get $dh) (local.get $u)))))
      (local.set $dcv (f32x4.add (v128.load (i32.add (local.get $dc) (local.get $u)))
        (f32x4.mul (f32x4.mul (local.get $dhv) (local.get $o))
                   (f32x4.sub ${splat(1)} (f32x4.mul (local.get $tc) (local.get $tc))))))
      (v128.store (i32.add (local.get $d) (local.get $u))
        (f32x4.mul (f32x4.mul (f32x4.mul (local.get $dcv) (local.get $g)) (local.get $i))
                   (f32x4.sub ${splat(1)} (local.get $i))))
      (v128.store (i32.add (i32.add (local.get $d) (local.get $hb)) (local.get $u))
        (f32x4.mul (f32x4.mul (f32x4.mul (local.get $dcv) (v128.load (i32.add (local.get $cPrev) (local.get $u))))
                              (local.get $f))
                   (f32x4.sub ${splat(1)} (local.get $f))))
      (v128.store (i32.add (i32.add (local.get $d) (i32.shl (local.get $hb) (i32.const 1))) (local.get $u))
        (f32x4.mul (f32x4.mul (local.get $dcv) (local.get $i))
                   (f32x4.sub ${splat(1)} (f32x4.mul (local.get $g) (local.get $g)))))
      (v128.store (i32.add (i32.add (local.get $d) (i32.mul (local.get $hb) (i32.const 3))) (local.get $u))
        (f32x4.mul (f32x4.mul (f32x4.mul (local.get $dhv) (local.get $tc)) (local.get $o))
                   (f32x4.sub ${splat(1)} (local.get $o))))
      (v128.store (i32.add (local.get $dc) (local.get $u)) (f32x4.mul (local.get $dcv) (local.get $f)))
      (local.set $u (i32.add (local.get $u) (i32.const 16)))
      (br_if $uLoop (i32.lt_u (local.get $u) (local.get $hb)))))`;

/** Byte address of row (sample b + r, step t + dt) of a [B, T, ·] array with rows of $stride bytes. */
const rowAt = (base: string, r: number, dt: number, stride: string) =>
  add(
    get(base),
    mul(
      `(i32.add ${add(mul(`(i32.add ${get('b')} (i32.const ${r}))`, get('steps')), get('t'))} (i32.const ${dt}))`,
      get(stride),
    ),
  );

/**
 * forward(gates, cell, hidden, w, zero, scratch, batch, steps, units): gates holds projected on entry.
 * Step by step, four samples at a time (each W_hh vector loaded feeds four rows), then the rest one by
 * one; scratch holds the four h_{t−1} rows interleaved (16·H bytes).
 */
const FORWARD = `
  (func (export "forward") (param $gates i32) (param $cell i32) (param $hidden i32) (param $w i32)
      (param $zero i32) (param $scratch i32) (param $batch i32) (param $steps i32) (param $units i32)
    ${PRODUCT_LOCALS}
    (local $b i32) (local $t i32) (local $hb i32) (local $gb i32) (local $r i32)
    (local.set $hb (i32.shl (local.get $units) (i32.const 2)))
    (local.set $gb (i32.shl (local.get $hb) (i32.const 2)))
    (local.set $mRow (local.get $gb))
    (local.set $m (local.get $w))
    (block $tDone (loop $tLoop
      (br_if $tDone (i32.ge_u (local.get $t) (local.get $steps)))
      (local.set $b (i32.const 0))
      (block $quadDone (loop $quadLoop
        (br_if $quadDone (i32.gt_u (i32.add (local.get $b) (i32.const 4)) (local.get $batch)))
        (local.set $x (local.get $scratch))
        (if (local.get $t)
          (then ${interleave(
            range(4).map((r) => rowAt('hidden', r, -1, 'hb')),
            get('hb'),
          )})
          (else (memory.fill (local.get $scratch) (i32.const 0) (i32.shl (local.get $hb) (i32.const 2)))))
        ${range(4)
          .map((r) => `(local.set $o${r} ${rowAt('gates', r, 0, 'gb')})`)
          .join('\n        ')}
        ${quadTimesMatrix(get('gb'), get('hb'), 'load')}
        ${range(4)
          .map(
            (r) => `(call $cell (local.get $o${r})
          (if (result i32) (local.get $t) (then ${rowAt('cell', r, -1, 'hb')}) (else (local.get $zero)))
          ${rowAt('cell', r, 0, 'hb')} ${rowAt('hidden', r, 0, 'hb')} (local.get $hb))`,
          )
          .join('\n        ')}
        (local.set $b (i32.add (local.get $b) (i32.const 4)))
        (br $quadLoop)))
      (block $oneDone (loop $oneLoop
        (br_if $oneDone (i32.ge_u (local.get $b) (local.get $batch)))
        (local.set $out ${rowAt('gates', 0, 0, 'gb')})
        (local.set $x (if (result i32) (local.get $t) (then ${rowAt('hidden', 0, -1, 'hb')}) (else (local.get $zero))))
        ${rowTimesMatrix(get('gb'), get('hb'), 'load')}
        (call $cell (local.get $out)
          (if (result i32) (local.get $t) (then ${rowAt('cell', 0, -1, 'hb')}) (else (local.get $zero)))
          ${rowAt('cell', 0, 0, 'hb')} ${rowAt('hidden', 0, 0, 'hb')} (local.get $hb))
        (local.set $b (i32.add (local.get $b) (i32.const 1)))
        (br $oneLoop)))
      (local.set $t (i32.add (local.get $t) (i32.const 1)))
      (br $tLoop))))`;

/**
 * backward(dy, gates, cell, wt, dproj, dh, dc, zero, scratch, batch, steps, units): dh and dc [B, H]
 * hold each sample's gradients flowing into step t from step t + 1; wt is W_hhᵀ [4H, H]; scratch holds
 * four dz rows interleaved (64·H bytes). From the last step back, four samples at a time, then the rest.
 */
const BACKWARD = `
  (func (export "backward") (param $dy i32) (param $gates i32) (param $cell i32) (param $wt i32)
      (param $dproj i32) (param $dh i32) (param $dc i32) (param $zero i32) (param $scratch i32)
      (param $batch i32) (param $steps i32) (param $units i32)
    ${PRODUCT_LOCALS}
    (local $b i32) (local $t i32) (local $hb i32) (local $gb i32)
    (local.set $hb (i32.shl (local.get $units) (i32.const 2)))
    (local.set $gb (i32.shl (local.get $hb) (i32.const 2)))
    (local.set $m (local.get $wt))
    (local.set $mRow (local.get $hb))
    (memory.fill (local.get $dh) (i32.const 0) (i32.mul (local.get $batch) (local.get $hb)))
    (memory.fill (local.get $dc) (i32.const 0) (i32.mul (local.get $batch) (local.get $hb)))
    (local.set $t (local.get $steps))
    (block $tDone (loop $tLoop
      (br_if $tDone (i32.eqz (local.get $t)))
      (local.set $t (i32.sub (local.get $t) (i32.const 1)))
      (local.set $b (i32.const 0))
      (block $quadDone (loop $quadLoop
        (br_if $quadDone (i32.gt_u (i32.add (local.get $b) (i32.const 4)) (local.get $batch)))
        ${range(4)
          .map(
            (
              r,
            ) => `(call $cellGrad ${rowAt('gates', r, 0, 'gb')} ${rowAt('dproj', r, 0, 'gb')} ${rowAt('cell', r, 0, 'hb')}
          (if (result i32) (local.get $t) (then ${rowAt('cell', r, -1, 'hb')}) (else (local.get $zero)))
          ${rowAt('dy', r, 0, 'hb')}
          ${add(get('dh'), mul(`(i32.add ${get('b')} (i32.const ${r}))`, get('hb')))}
          ${add(get('dc'), mul(`(i32.add ${get('b')} (i32.const ${r}))`, get('hb')))} (local.get $hb))`,
          )
          .join('\n        ')}
        ;; h_{−1} = 0 is a constant: at t = 0 nothing flows further back.
        (if (local.get $t)
          (then
            (local.set $x (local.get $scratch))
            ${interleave(
              range(4).map((r) => rowAt('dproj', r, 0, 'gb')),
              get('gb'),
            )}
            ${range(4)
              .map(
                (r) =>
                  `(local.set $o${r} ${add(get('dh'), mul(`(i32.add ${get('b')} (i32.const ${r}))`, get('hb')))})`,
              )
              .join('\n            ')}
            ${quadTimesMatrix(get('hb'), get('gb'), 'zero')}))
        (local.set $b (i32.add (local.get $b) (i32.const 4)))
        (br $quadLoop)))
      (block $oneDone (loop $oneLoop
        (br_if $oneDone (i32.ge_u (local.get $b) (local.get $batch)))
        (local.set $x ${rowAt('dproj', 0, 0, 'gb')})
        (local.set $out ${add(get('dh'), mul(get('b'), get('hb')))})
        (call $cellGrad ${rowAt('gates', 0, 0, 'gb')} (local.get $x) ${rowAt('cell', 0, 0, 'hb')}
          (if (result i32) (local.get $t) (then ${rowAt('cell', 0, -1, 'hb')}) (else (local.get $zero)))
          ${rowAt('dy', 0, 0, 'hb')} (local.get $out) ${add(get('dc'), mul(get('b'), get('hb')))} (local.get $hb))
        (if (local.get $t) (then ${rowTimesMatrix(get('hb'), get('gb'), 'zero')}))
        (local.set $b (i32.add (local.get $b) (i32.const 1)))
        (br $oneLoop)))
      (br $tLoop))))`;

/** dw64[k, j] += Σ over rows r of the block of hidden[r − 1, k]·dz[r, j], a 4 (k) × 8 (j) tile at a time. */
const WEIGHT_GRAD = `
  (func (export "weightGrad") (param $hidden i32) (param $dproj i32) (param $dw i32) (param $batch i32)
      (param $steps i32) (param $units i32)
    (local $b i32) (local $t0 i32) (local $rows i32) (local $hb i32) (local $gb i32) (local $k i32) (local $col i32)
    (local $hp i32) (local $dp i32) (local $r i32) (local $wp i32)
    (local $h0 v128) (local $h1 v128) (local $h2 v128) (local $h3 v128) (local $d0 v128) (local $d1 v128)
    ${range(4)
      .flatMap((k) => range(2).map((v) => `(local $a${k}${v} v128)`))
      .join(' ')}
    (local.set $hb (i32.shl (local.get $units) (i32.const 2)))
    (local.set $gb (i32.shl (local.get $hb) (i32.const 2)))
    (block $bDone (loop $bLoop
      (br_if $bDone (i32.ge_u (local.get $b) (local.get $batch)))
      (local.set $t0 (i32.const 1))
      (block $tDone (loop $tLoop
        (br_if $tDone (i32.ge_u (local.get $t0) (local.get $steps)))
        (local.set $rows (i32.sub (local.get $steps) (local.get $t0)))
        (if (i32.gt_u (local.get $rows) (i32.const ${WEIGHT_GRAD_BLOCK}))
          (then (local.set $rows (i32.const ${WEIGHT_GRAD_BLOCK}))))
        (local.set $k (i32.const 0))
        (loop $kLoop
          (local.set $col (i32.const 0))
          (loop $colLoop
            ${range(4)
              .flatMap((k) => range(2).map((v) => `(local.set $a${k}${v} (v128.const i32x4 0 0 0 0))`))
              .join(' ')}
            (local.set $hp ${add(add(get('hidden'), mul(`(i32.sub ${add(mul(get('b'), get('steps')), get('t0'))} (i32.const 1))`, get('hb'))), get('k'))})
            (local.set $dp ${add(add(get('dproj'), mul(add(mul(get('b'), get('steps')), get('t0')), get('gb'))), get('col'))})
            (local.set $r (local.get $rows))
            (loop $rLoop
              ${range(4)
                .map((k) => `(local.set $h${k} (v128.load32_splat offset=${k * 4} (local.get $hp)))`)
                .join(' ')}
              (local.set $d0 (v128.load (local.get $dp)))
              (local.set $d1 (v128.load offset=16 (local.get $dp)))
              ${range(4)
                .flatMap((k) =>
                  range(2).map(
                    (v) =>
                      `(local.set $a${k}${v} (f32x4.add (local.get $a${k}${v}) (f32x4.mul (local.get $h${k}) (local.get $d${v}))))`,
                  ),
                )
                .join('\n              ')}
              (local.set $hp (i32.add (local.get $hp) (local.get $hb)))
              (local.set $dp (i32.add (local.get $dp) (local.get $gb)))
              (local.set $r (i32.sub (local.get $r) (i32.const 1)))
              (br_if $rLoop (local.get $r)))
            ;; dw64 is f64 [H, 4H]: element (k, j) at dw + 8·(k·4H + j); k here is in bytes of f32 (4·k).
            ${range(4)
              .map(
                (
                  k,
                ) => `(local.set $wp ${add(get('dw'), `(i32.shl ${add(mul(`(i32.add (i32.shr_u ${get('k')} (i32.const 2)) (i32.const ${k}))`, `(i32.shl ${get('units')} (i32.const 2))`), `(i32.shr_u ${get('col')} (i32.const 2))`)} (i32.const 3))`)})
            ${range(2)
              .map(
                (v) => `(v128.store offset=${v * 32} (local.get $wp)
              (f64x2.add (v128.load offset=${v * 32} (local.get $wp)) (f64x2.promote_low_f32x4 (local.get $a${k}${v}))))
            (v128.store offset=${v * 32 + 16} (local.get $wp)
              (f64x2.add (v128.load offset=${v * 32 + 16} (local.get $wp))
                (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $a${k}${v}) (local.get $a${k}${v})))))`,
              )
              .join('\n            ')}`,
              )
              .join('\n            ')}
            (local.set $col (i32.add (local.get $col) (i32.const 32)))
            (br_if $colLoop (i32.lt_u (local.get $col) (local.get $gb))))
          (local.set $k (i32.add (local.get $k) (i32.const 16)))
          (br_if $kLoop (i32.lt_u (local.get $k) (local.get $hb))))
        (local.set $t0 (i32.add (local.get $t0) (local.get $rows)))
        (br $tLoop)))
      (local.set $b (i32.add (local.get $b) (i32.const 1)))
      (br $bLoop))))`;

/** The module's text: imports env.memory, exports forward, backward and weightGrad. */
export function lstmWat(): string {
  return `(module
  (import "env" "memory" (memory 1))
  ${GATE_FUNCTIONS}
  ${CELL}
  ${CELL_GRAD}
  ${FORWARD}
  ${BACKWARD}
  ${WEIGHT_GRAD})
`;
}
