/**
 * @module
 * Writes the WebAssembly text of the fused Adam update (adam.ts runs it) with 128-bit SIMD, over one
 * flat f32 array per quantity — parameters, gradients, first and second moments — each parameter
 * starting on a 16-byte boundary with zeros between (zeros stay zeros under the update):
 *
 *   sumSquares(g, n) → f64      Σ g², each square rounded to f32 (as tf.square) and summed in f64
 *   update(p, g, m, v, n, scale, b1, 1−b1, b2, 1−b2, c1, c2, eps, lr)
 *       g ← g·scale;  m ← m·b1 + g·(1−b1);  v ← v·b2 + g²·(1−b2);  p ← p − (m/c1) / (√(v/c2) + eps)·lr
 *
 * Each operation is the same f32 operation, in the same order, as the tfjs ops the trainer used before
 * (train.ts, Adam), so the result is bit-identical to them; the constants arrive as f32 parameters, as
 * tfjs casts its scalars. n counts floats and is a multiple of 4.
 */

const get = (name: string) => `(local.get $${name})`;
const at = (base: string) => `(i32.add ${get(base)} ${get('i')})`;

const SUM_SQUARES = `
  (func (export "sumSquares") (param $g i32) (param $n i32) (result f64)
    (local $i i32) (local $end i32) (local $x v128) (local $acc v128)
    (local.set $end (i32.shl (local.get $n) (i32.const 2)))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
      (local.set $x (v128.load ${at('g')}))
      (local.set $x (f32x4.mul (local.get $x) (local.get $x)))
      (local.set $acc (f64x2.add (local.get $acc) (f64x2.promote_low_f32x4 (local.get $x))))
      (local.set $acc (f64x2.add (local.get $acc)
        (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $x) (local.get $x)))))
      (local.set $i (i32.add (local.get $i) (i32.const 16)))
      (br $next)))
    (f64.add (f64x2.extract_lane 0 (local.get $acc)) (f64x2.extract_lane 1 (local.get $acc))))`;

const CONSTANTS = ['scale', 'b1', 'ob1', 'b2', 'ob2', 'c1', 'c2', 'eps', 'lr'];

const UPDATE = `
  (func (export "update") (param $p i32) (param $g i32) (param $m i32) (param $v i32) (param $n i32)
      ${CONSTANTS.map((c) => `(param $${c}_ f32)`).join(' ')}
    (local $i i32) (local $end i32) (local $gv v128) (local $mv v128) (local $vv v128)
    ${CONSTANTS.map((c) => `(local $${c} v128)`).join(' ')}
    ${CONSTANTS.map((c) => `(local.set $${c} (f32x4.splat (local.get $${c}_)))`).join('\n    ')}
    (local.set $end (i32.shl (local.get $n) (i32.const 2)))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
      (local.set $gv (f32x4.mul (v128.load ${at('g')}) ${get('scale')}))
      (local.set $mv (f32x4.add (f32x4.mul (v128.load ${at('m')}) ${get('b1')}) (f32x4.mul ${get('gv')} ${get('ob1')})))
      (local.set $vv (f32x4.add (f32x4.mul (v128.load ${at('v')}) ${get('b2')})
                                (f32x4.mul (f32x4.mul ${get('gv')} ${get('gv')}) ${get('ob2')})))
      (v128.store ${at('m')} ${get('mv')})
      (v128.store ${at('v')} ${get('vv')})
      (v128.store ${at('p')}
        (f32x4.sub (v128.load ${at('p')})
          (f32x4.mul
            (f32x4.div (f32x4.div ${get('mv')} ${get('c1')})
                       (f32x4.add (f32x4.sqrt (f32x4.div ${get('vv')} ${get('c2')})) ${get('eps')}))
            ${get('lr')})))
      (local.set $i (i32.add (local.get $i) (i32.const 16)))
      (br $next))))`;

/** The module's text: imports env.memory, exports sumSquares and update. */
export function adamWat(): string {
  return `(module
  (import "env" "memory" (memory 1))
  ${SUM_SQUARES}
  ${UPDATE})
`;
}
