/**
 * @module
 * Writes the WebAssembly text of our f32 GEMM, C[M×N] (+)= A[M×K]·B[K×N], with 128-bit SIMD (f32x4).
 * The text is generated rather than written by hand because the micro-kernel is fully unrolled over its
 * tile: an MR×NR tile of C lives in MR·NR/4 v128 locals for a whole pass over k, and what V8's TurboFan
 * makes of those locals decides the speed. Measured on these machines (docs/performance.md, step 3):
 *   - V8 allocates xmm0–xmm14 (xmm15 is its scratch register) and, without relaxed SIMD's FMA, each
 *     multiply-add needs a temporary: MR·NR/4 accumulators + NR/4 B vectors + the broadcast A value + that
 *     temporary must fit in 15. 5×8 is 10 + 2 + 1 + 1 = 14; the previous 6×8 needed 16 and 4×16 needs 22;
 *   - the k loop is NOT unrolled: TurboFan hoists the loads of every unrolled step to the top of the loop
 *     body, so an unrolled 5×8 spills as badly as 6×8 (~100 stack moves per iteration). One step per
 *     iteration keeps all 10 accumulators in registers; the loop's scalar overhead runs on other ports.
 *   5×8 packed, one step per iteration: 43–46 GFLOPS on one thread where 6×8 unrolled ×4 gave 29–32.
 *
 * Layout (all addresses and strides in bytes, A and B row- or column-major by their strides):
 *   - B is packed per (KC × NC) block into NR-wide column slivers, k-major and zero-padded on the right,
 *     so the kernel's B loads are sequential;
 *   - A is packed per MR-row micro-panel, k-major (the MR values of one k adjacent), so the kernel reads A
 *     through one pointer with immediate offsets whatever A's layout (row-major, transposed, or the
 *     overlapping rows of a convolution's im2col windows);
 *   - loop order jc (NC) → pc (KC) → ic (MR) → jr (NR): the packed A panel (MR × KC, ≤ 8 KB) stays in L1
 *     while the packed B block (KC × NC, 384 KB) streams from L2;
 *   - edge tiles (fewer than MR rows or NR columns) go through a scratch tile and are copied back.
 * A separate pass applies an optional bias (per column) and ReLU.
 */

/** The tile and cache-block sizes baked into the module. */
export interface GemmShape {
  /** Rows of the register tile. */
  readonly mr: number;
  /** Columns of the register tile (a multiple of 4). */
  readonly nr: number;
  /** Depth of a packed B block. */
  readonly kc: number;
  /** Width of a packed B block (a multiple of nr). */
  readonly nc: number;
}

export const DEFAULT_SHAPE: GemmShape = { mr: 5, nr: 8, kc: 384, nc: 256 };

/** Bytes of scratch one thread's gemm call needs: the packed B block, one edge tile, one packed A panel. */
export function workBytes(shape: GemmShape = DEFAULT_SHAPE): number {
  return (shape.kc * shape.nc + shape.mr * shape.nr + shape.mr * shape.kc) * 4 + 64;
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/**
 * The micro-kernel: tile C[MR×NR] at c (row stride ldc) = (accumulate ? C : 0) + A-panel · B-sliver, the
 * A panel packed (A(i,k) at a + 4i + 4·MR·k) and the B sliver packed (B(k,j) at b + 4j + 4·NR·k): two
 * pointers, every offset an immediate, one k step per iteration (see the module doc for why).
 */
function kernel(shape: GemmShape): string {
  const { mr, nr } = shape;
  const nv = nr / 4;
  const acc = (i: number, v: number) => `$c${i}_${v}`;
  const locals = [
    ...range(mr).flatMap((i) => range(nv).map((v) => `(local ${acc(i, v)} v128)`)),
    ...range(nv).map((v) => `(local $b${v} v128)`),
    '(local $x v128) (local $cp i32)',
  ];
  const step = [
    ...range(nv).map((v) => `(local.set $b${v} (v128.load offset=${v * 16} (local.get $b)))`),
    ...range(mr).flatMap((i) => [
      `(local.set $x (v128.load32_splat offset=${4 * i} (local.get $a)))`,
      ...range(nv).map(
        (v) =>
          `(local.set ${acc(i, v)} (f32x4.add (local.get ${acc(i, v)}) (f32x4.mul (local.get $x) (local.get $b${v}))))`,
      ),
    ]),
    `(local.set $a (i32.add (local.get $a) (i32.const ${mr * 4})))`,
    `(local.set $b (i32.add (local.get $b) (i32.const ${nr * 4})))`,
    '(local.set $k (i32.sub (local.get $k) (i32.const 1)))',
  ].join('\n');
  const store = (accumulate: boolean) =>
    [
      '(local.set $cp (local.get $c))',
      ...range(mr).flatMap((i) => [
        ...range(nv).map((v) =>
          accumulate
            ? `(v128.store offset=${v * 16} (local.get $cp) (f32x4.add (local.get ${acc(i, v)}) (v128.load offset=${v * 16} (local.get $cp))))`
            : `(v128.store offset=${v * 16} (local.get $cp) (local.get ${acc(i, v)}))`,
        ),
        '(local.set $cp (i32.add (local.get $cp) (local.get $ldc)))',
      ]),
    ].join('\n');
  return `
(func $kernel (param $a i32) (param $b i32) (param $k i32) (param $c i32) (param $ldc i32) (param $accumulate i32)
${locals.join(' ')}
(block $done (loop $loop
  (br_if $done (i32.eqz (local.get $k)))
${step}
  (br $loop)))
(if (local.get $accumulate) (then
${store(true)}
) (else
${store(false)}
)))`;
}

/**
 * packA(a, ars, acs, m, kc, dst): the MR-row micro-panel of A at a (A(i,k) at a + i·ars + k·acs) →
 * k-major at dst (MR values per k); rows past m repeat the last valid row (their results are discarded).
 */
function packA(shape: GemmShape): string {
  const { mr } = shape;
  return `
(func $packA (param $a i32) (param $ars i32) (param $acs i32) (param $m i32) (param $kc i32) (param $dst i32)
${range(mr)
  .map((i) => `(local $r${i} i32)`)
  .join(' ')}
${range(mr)
  .map(
    (i) =>
      `(local.set $r${i} (i32.add (local.get $a) (i32.mul (local.get $ars) (select (i32.const ${i}) (i32.sub (local.get $m) (i32.const 1)) (i32.lt_u (i32.const ${i}) (local.get $m))))))`,
  )
  .join('\n')}
(block $done (loop $loop
  (br_if $done (i32.eqz (local.get $kc)))
${range(mr)
  .map(
    (i) =>
      `  (f32.store offset=${4 * i} (local.get $dst) (f32.load (local.get $r${i})))
  (local.set $r${i} (i32.add (local.get $r${i}) (local.get $acs)))`,
  )
  .join('\n')}
  (local.set $dst (i32.add (local.get $dst) (i32.const ${mr * 4})))
  (local.set $kc (i32.sub (local.get $kc) (i32.const 1)))
  (br $loop)))
)`;
}

/**
 * packB: the KC×NC block of B at src (B(k,j) at src + k·rs + j·cs) → NR-wide slivers at dst, each kc×NR,
 * zero-padded past nc. Rows of B that are contiguous (cs = 4) and a full sliver wide move as vectors.
 */
function packB(shape: GemmShape): string {
  const { nr } = shape;
  const nv = nr / 4;
  return `
(func $packB (param $src i32) (param $rs i32) (param $cs i32) (param $kc i32) (param $nc i32) (param $dst i32)
(local $j i32) (local $k i32) (local $jj i32) (local $s i32) (local $col i32)
(local.set $j (i32.const 0))
(block $jdone (loop $jloop
  (br_if $jdone (i32.ge_u (local.get $j) (local.get $nc)))
  (if (i32.and (i32.eq (local.get $cs) (i32.const 4)) (i32.le_u (i32.add (local.get $j) (i32.const ${nr})) (local.get $nc)))
    (then
      (local.set $s (i32.add (local.get $src) (i32.shl (local.get $j) (i32.const 2))))
      (local.set $k (i32.const 0))
      (block $kdone (loop $kloop
        (br_if $kdone (i32.ge_u (local.get $k) (local.get $kc)))
${range(nv)
  .map(
    (v) =>
      `        (v128.store offset=${v * 16} (local.get $dst) (v128.load offset=${v * 16} (local.get $s)))`,
  )
  .join('\n')}
        (local.set $dst (i32.add (local.get $dst) (i32.const ${nr * 4})))
        (local.set $s (i32.add (local.get $s) (local.get $rs)))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $kloop))))
    (else
      (local.set $k (i32.const 0))
      (block $kdone (loop $kloop
        (br_if $kdone (i32.ge_u (local.get $k) (local.get $kc)))
        (local.set $jj (i32.const 0))
        (block $jjdone (loop $jjloop
          (br_if $jjdone (i32.ge_u (local.get $jj) (i32.const ${nr})))
          (local.set $col (i32.add (local.get $j) (local.get $jj)))
          (f32.store (local.get $dst)
            (if (result f32) (i32.lt_u (local.get $col) (local.get $nc))
              (then (f32.load (i32.add (i32.add (local.get $src) (i32.mul (local.get $k) (local.get $rs))) (i32.mul (local.get $col) (local.get $cs)))))
              (else (f32.const 0))))
          (local.set $dst (i32.add (local.get $dst) (i32.const 4)))
          (local.set $jj (i32.add (local.get $jj) (i32.const 1)))
          (br $jjloop)))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $kloop)))))
  (local.set $j (i32.add (local.get $j) (i32.const ${nr})))
  (br $jloop)))
)`;
}

/** Copies an m×n tile of floats between two row strides (bytes). */
const copyTile = `
(func $copyTile (param $src i32) (param $srs i32) (param $dst i32) (param $drs i32) (param $m i32) (param $n i32)
(local $i i32) (local $j i32)
(block $idone (loop $iloop
  (br_if $idone (i32.ge_u (local.get $i) (local.get $m)))
  (local.set $j (i32.const 0))
  (block $jdone (loop $jloop
    (br_if $jdone (i32.ge_u (local.get $j) (local.get $n)))
    (f32.store (i32.add (local.get $dst) (i32.shl (local.get $j) (i32.const 2)))
      (f32.load (i32.add (local.get $src) (i32.shl (local.get $j) (i32.const 2)))))
    (local.set $j (i32.add (local.get $j) (i32.const 1)))
    (br $jloop)))
  (local.set $src (i32.add (local.get $src) (local.get $srs)))
  (local.set $dst (i32.add (local.get $dst) (local.get $drs)))
  (local.set $i (i32.add (local.get $i) (i32.const 1)))
  (br $iloop)))
)`;

/**
 * gemm(a, ars, acs, b, brs, bcs, c, ldc, M, N, K, work, accumulate): C = A·B (accumulate = 0) or
 * C += A·B (accumulate ≠ 0) with A(i,k) at a + i·ars + k·acs, B(k,j) at b + k·brs + j·bcs, C(i,j) at
 * c + i·ldc + 4j, any strides (A is packed). work: workBytes(). Rows of A may overlap (ars smaller than
 * K·4): that is how a convolution's im2col windows are read in place (conv1d.ts).
 */
function gemm(shape: GemmShape): string {
  const { mr, nr, kc, nc } = shape;
  // One tile's kernel call, C at `c` with row stride `ldc` (WAT expressions).
  const call = (c: string, ldc: string) =>
    `(call $kernel (local.get $pa) (local.get $bt) (local.get $kcur) ${c} ${ldc} (local.get $acc))`;
  return `
(func (export "gemm") (param $a i32) (param $ars i32) (param $acs i32) (param $b i32) (param $brs i32) (param $bcs i32)
  (param $c i32) (param $ldc i32) (param $M i32) (param $N i32) (param $K i32) (param $work i32) (param $accumulate i32)
(local $jc i32) (local $ncur i32) (local $pc i32) (local $kcur i32) (local $ic i32) (local $mcur i32)
(local $jr i32) (local $ncol i32) (local $acc i32) (local $tmp i32) (local $at i32) (local $bt i32) (local $ct i32)
(local $pa i32)
(local.set $tmp (i32.add (local.get $work) (i32.const ${kc * nc * 4})))
(local.set $pa (i32.add (local.get $tmp) (i32.const ${mr * nr * 4})))
(block $jcdone (loop $jcloop
  (br_if $jcdone (i32.ge_u (local.get $jc) (local.get $N)))
  (local.set $ncur (select (i32.sub (local.get $N) (local.get $jc)) (i32.const ${nc}) (i32.lt_u (i32.sub (local.get $N) (local.get $jc)) (i32.const ${nc}))))
  (local.set $pc (i32.const 0))
  (block $pcdone (loop $pcloop
    (br_if $pcdone (i32.ge_u (local.get $pc) (local.get $K)))
    (local.set $kcur (select (i32.sub (local.get $K) (local.get $pc)) (i32.const ${kc}) (i32.lt_u (i32.sub (local.get $K) (local.get $pc)) (i32.const ${kc}))))
    (call $packB
      (i32.add (i32.add (local.get $b) (i32.mul (local.get $pc) (local.get $brs))) (i32.mul (local.get $jc) (local.get $bcs)))
      (local.get $brs) (local.get $bcs) (local.get $kcur) (local.get $ncur) (local.get $work))
    (local.set $acc (i32.or (i32.gt_u (local.get $pc) (i32.const 0)) (local.get $accumulate)))
    (local.set $ic (i32.const 0))
    (block $icdone (loop $icloop
      (br_if $icdone (i32.ge_u (local.get $ic) (local.get $M)))
      (local.set $mcur (select (i32.sub (local.get $M) (local.get $ic)) (i32.const ${mr}) (i32.lt_u (i32.sub (local.get $M) (local.get $ic)) (i32.const ${mr}))))
      (local.set $at (i32.add (i32.add (local.get $a) (i32.mul (local.get $ic) (local.get $ars))) (i32.mul (local.get $pc) (local.get $acs))))
      (call $packA (local.get $at) (local.get $ars) (local.get $acs) (local.get $mcur) (local.get $kcur) (local.get $pa))
      (local.set $jr (i32.const 0))
      (block $jrdone (loop $jrloop
        (br_if $jrdone (i32.ge_u (local.get $jr) (local.get $ncur)))
        (local.set $ncol (select (i32.sub (local.get $ncur) (local.get $jr)) (i32.const ${nr}) (i32.lt_u (i32.sub (local.get $ncur) (local.get $jr)) (i32.const ${nr}))))
        (local.set $bt (i32.add (local.get $work) (i32.mul (i32.shl (local.get $jr) (i32.const 2)) (local.get $kcur))))
        (local.set $ct (i32.add (i32.add (local.get $c) (i32.mul (local.get $ic) (local.get $ldc))) (i32.shl (i32.add (local.get $jc) (local.get $jr)) (i32.const 2))))
        (if (i32.and (i32.eq (local.get $mcur) (i32.const ${mr})) (i32.eq (local.get $ncol) (i32.const ${nr})))
          (then
            ${call('(local.get $ct)', '(local.get $ldc)')})
          (else
            (if (local.get $acc)
              (then (call $copyTile (local.get $ct) (local.get $ldc) (local.get $tmp) (i32.const ${nr * 4}) (local.get $mcur) (local.get $ncol))))
            ${call('(local.get $tmp)', `(i32.const ${nr * 4})`)}
            (call $copyTile (local.get $tmp) (i32.const ${nr * 4}) (local.get $ct) (local.get $ldc) (local.get $mcur) (local.get $ncol))))
        (local.set $jr (i32.add (local.get $jr) (i32.const ${nr})))
        (br $jrloop)))
      (local.set $ic (i32.add (local.get $ic) (i32.const ${mr})))
      (br $icloop)))
    (local.set $pc (i32.add (local.get $pc) (i32.const ${kc})))
    (br $pcloop)))
  (local.set $jc (i32.add (local.get $jc) (i32.const ${nc})))
  (br $jcloop)))
)`;
}

/** biasRelu(c, ldc, m, n, bias, relu): C(i,j) += bias[j] (bias ≠ 0), then max(·, 0) when relu ≠ 0. */
const biasRelu = `
(func (export "biasRelu") (param $c i32) (param $ldc i32) (param $m i32) (param $n i32) (param $bias i32) (param $relu i32)
(local $i i32) (local $j i32) (local $p i32) (local $v v128) (local $f f32)
(block $idone (loop $iloop
  (br_if $idone (i32.ge_u (local.get $i) (local.get $m)))
  (local.set $p (i32.add (local.get $c) (i32.mul (local.get $i) (local.get $ldc))))
  (local.set $j (i32.const 0))
  (block $vdone (loop $vloop
    (br_if $vdone (i32.gt_u (i32.add (local.get $j) (i32.const 4)) (local.get $n)))
    (local.set $v (v128.load (i32.add (local.get $p) (i32.shl (local.get $j) (i32.const 2)))))
    (if (local.get $bias) (then (local.set $v (f32x4.add (local.get $v) (v128.load (i32.add (local.get $bias) (i32.shl (local.get $j) (i32.const 2))))))))
    (if (local.get $relu) (then (local.set $v (f32x4.max (local.get $v) (v128.const f32x4 0 0 0 0)))))
    (v128.store (i32.add (local.get $p) (i32.shl (local.get $j) (i32.const 2))) (local.get $v))
    (local.set $j (i32.add (local.get $j) (i32.const 4)))
    (br $vloop)))
  (block $sdone (loop $sloop
    (br_if $sdone (i32.ge_u (local.get $j) (local.get $n)))
    (local.set $f (f32.load (i32.add (local.get $p) (i32.shl (local.get $j) (i32.const 2)))))
    (if (local.get $bias) (then (local.set $f (f32.add (local.get $f) (f32.load (i32.add (local.get $bias) (i32.shl (local.get $j) (i32.const 2))))))))
    (if (local.get $relu) (then (local.set $f (f32.max (local.get $f) (f32.const 0)))))
    (f32.store (i32.add (local.get $p) (i32.shl (local.get $j) (i32.const 2))) (local.get $f))
    (local.set $j (i32.add (local.get $j) (i32.const 1)))
    (br $sloop)))
  (local.set $i (i32.add (local.get $i) (i32.const 1)))
  (br $iloop)))
)`;

/**
 * maskRows(src, ss, mask, dst, ds, rows, cols, sums): copies a rows×cols block of floats (row strides ss,
 * ds in bytes) from src to dst, zeroing each value whose mask entry (same layout as src) is not > 0 when
 * mask ≠ 0 — a ReLU's gradient — and adds each column's copied values to the f64 sums[col] (a bias
 * gradient). Used by conv1d.ts to lay out dy for the input- and weight-gradient products.
 */
const maskRows = `
(func (export "maskRows") (param $src i32) (param $ss i32) (param $mask i32) (param $dst i32) (param $ds i32)
  (param $rows i32) (param $cols i32) (param $sums i32)
(local $r i32) (local $j i32) (local $o i32) (local $sp i32) (local $v v128) (local $f f32)
(block $rdone (loop $rloop
  (br_if $rdone (i32.ge_u (local.get $r) (local.get $rows)))
  (local.set $j (i32.const 0))
  (block $vdone (loop $vloop
    (br_if $vdone (i32.gt_u (i32.add (local.get $j) (i32.const 4)) (local.get $cols)))
    (local.set $o (i32.shl (local.get $j) (i32.const 2)))
    (local.set $v (v128.load (i32.add (local.get $src) (local.get $o))))
    (if (local.get $mask) (then
      (local.set $v (v128.and (local.get $v)
        (f32x4.gt (v128.load (i32.add (local.get $mask) (local.get $o))) (v128.const f32x4 0 0 0 0))))))
    (v128.store (i32.add (local.get $dst) (local.get $o)) (local.get $v))
    (local.set $sp (i32.add (local.get $sums) (i32.shl (local.get $j) (i32.const 3))))
    (v128.store (local.get $sp) (f64x2.add (v128.load (local.get $sp)) (f64x2.promote_low_f32x4 (local.get $v))))
    (v128.store offset=16 (local.get $sp) (f64x2.add (v128.load offset=16 (local.get $sp))
      (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $v) (local.get $v)))))
    (local.set $j (i32.add (local.get $j) (i32.const 4)))
    (br $vloop)))
  (block $sdone (loop $sloop
    (br_if $sdone (i32.ge_u (local.get $j) (local.get $cols)))
    (local.set $o (i32.shl (local.get $j) (i32.const 2)))
    (local.set $f (f32.load (i32.add (local.get $src) (local.get $o))))
    (if (local.get $mask) (then
      (if (i32.eqz (f32.gt (f32.load (i32.add (local.get $mask) (local.get $o))) (f32.const 0)))
        (then (local.set $f (f32.const 0))))))
    (f32.store (i32.add (local.get $dst) (local.get $o)) (local.get $f))
    (local.set $sp (i32.add (local.get $sums) (i32.shl (local.get $j) (i32.const 3))))
    (f64.store (local.get $sp) (f64.add (f64.load (local.get $sp)) (f64.promote_f32 (local.get $f))))
    (local.set $j (i32.add (local.get $j) (i32.const 1)))
    (br $sloop)))
  (local.set $src (i32.add (local.get $src) (local.get $ss)))
  (if (local.get $mask) (then (local.set $mask (i32.add (local.get $mask) (local.get $ss)))))
  (local.set $dst (i32.add (local.get $dst) (local.get $ds)))
  (local.set $r (i32.add (local.get $r) (i32.const 1)))
  (br $rloop)))
)`;

/**
 * affineRows(src, ss, aux, dst, ds, rows, cols, k1, k2, k3, relu): for a rows×cols block (row strides ss,
 * ds in bytes; aux laid out as src, 0: none) dst(r,j) = k1[j]·src(r,j) + k2[j]·aux(r,j) + k3[j], then
 * max(·, 0) when relu ≠ 0 — BatchNorm's normalisation forward and its input gradient (conv1d.ts).
 */
const affineRows = `
(func (export "affineRows") (param $src i32) (param $ss i32) (param $aux i32) (param $dst i32) (param $ds i32)
  (param $rows i32) (param $cols i32) (param $k1 i32) (param $k2 i32) (param $k3 i32) (param $relu i32)
(local $r i32) (local $j i32) (local $o i32) (local $v v128) (local $f f32)
(block $rdone (loop $rloop
  (br_if $rdone (i32.ge_u (local.get $r) (local.get $rows)))
  (local.set $j (i32.const 0))
  (block $vdone (loop $vloop
    (br_if $vdone (i32.gt_u (i32.add (local.get $j) (i32.const 4)) (local.get $cols)))
    (local.set $o (i32.shl (local.get $j) (i32.const 2)))
    (local.set $v (f32x4.add (f32x4.mul (v128.load (i32.add (local.get $src) (local.get $o))) (v128.load (i32.add (local.get $k1) (local.get $o))))
      (v128.load (i32.add (local.get $k3) (local.get $o)))))
    (if (local.get $aux) (then
      (local.set $v (f32x4.add (local.get $v)
        (f32x4.mul (v128.load (i32.add (local.get $aux) (local.get $o))) (v128.load (i32.add (local.get $k2) (local.get $o))))))))
    (if (local.get $relu) (then (local.set $v (f32x4.max (local.get $v) (v128.const f32x4 0 0 0 0)))))
    (v128.store (i32.add (local.get $dst) (local.get $o)) (local.get $v))
    (local.set $j (i32.add (local.get $j) (i32.const 4)))
    (br $vloop)))
  (block $sdone (loop $sloop
    (br_if $sdone (i32.ge_u (local.get $j) (local.get $cols)))
    (local.set $o (i32.shl (local.get $j) (i32.const 2)))
    (local.set $f (f32.add (f32.mul (f32.load (i32.add (local.get $src) (local.get $o))) (f32.load (i32.add (local.get $k1) (local.get $o))))
      (f32.load (i32.add (local.get $k3) (local.get $o)))))
    (if (local.get $aux) (then
      (local.set $f (f32.add (local.get $f)
        (f32.mul (f32.load (i32.add (local.get $aux) (local.get $o))) (f32.load (i32.add (local.get $k2) (local.get $o))))))))
    (if (local.get $relu) (then (local.set $f (f32.max (local.get $f) (f32.const 0)))))
    (f32.store (i32.add (local.get $dst) (local.get $o)) (local.get $f))
    (local.set $j (i32.add (local.get $j) (i32.const 1)))
    (br $sloop)))
  (local.set $src (i32.add (local.get $src) (local.get $ss)))
  (if (local.get $aux) (then (local.set $aux (i32.add (local.get $aux) (local.get $ss)))))
  (local.set $dst (i32.add (local.get $dst) (local.get $ds)))
  (local.set $r (i32.add (local.get $r) (i32.const 1)))
  (br $rloop)))
)`;

/**
 * colMoments(src, ss, aux, rows, cols, sums, prods): over a rows×cols block (row stride ss bytes; aux laid
 * out as src, 0: src itself) adds each column's values to the f64 sums[j] and its products src·aux to
 * prods[j] — BatchNorm's batch statistics (Σz, Σz²) and its parameter gradients (Σg, Σg·ẑ).
 */
const colMoments = `
(func (export "colMoments") (param $src i32) (param $ss i32) (param $aux i32) (param $rows i32) (param $cols i32)
  (param $sums i32) (param $prods i32)
(local $r i32) (local $j i32) (local $o i32) (local $p i32) (local $v v128) (local $w v128) (local $q v128)
(local $f f64) (local $g f64) (local $a i32)
(block $rdone (loop $rloop
  (br_if $rdone (i32.ge_u (local.get $r) (local.get $rows)))
  (local.set $a (select (local.get $aux) (local.get $src) (local.get $aux)))
  (local.set $j (i32.const 0))
  (block $vdone (loop $vloop
    (br_if $vdone (i32.gt_u (i32.add (local.get $j) (i32.const 4)) (local.get $cols)))
    (local.set $o (i32.shl (local.get $j) (i32.const 2)))
    (local.set $p (i32.shl (local.get $j) (i32.const 3)))
    (local.set $v (v128.load (i32.add (local.get $src) (local.get $o))))
    (local.set $w (v128.load (i32.add (local.get $a) (local.get $o))))
    (local.set $q (f64x2.promote_low_f32x4 (local.get $v)))
    (v128.store (i32.add (local.get $sums) (local.get $p)) (f64x2.add (v128.load (i32.add (local.get $sums) (local.get $p))) (local.get $q)))
    (v128.store (i32.add (local.get $prods) (local.get $p)) (f64x2.add (v128.load (i32.add (local.get $prods) (local.get $p)))
      (f64x2.mul (local.get $q) (f64x2.promote_low_f32x4 (local.get $w)))))
    (local.set $v (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $v) (local.get $v)))
    (local.set $w (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $w) (local.get $w)))
    (local.set $q (f64x2.promote_low_f32x4 (local.get $v)))
    (v128.store offset=16 (i32.add (local.get $sums) (local.get $p)) (f64x2.add (v128.load offset=16 (i32.add (local.get $sums) (local.get $p))) (local.get $q)))
    (v128.store offset=16 (i32.add (local.get $prods) (local.get $p)) (f64x2.add (v128.load offset=16 (i32.add (local.get $prods) (local.get $p)))
      (f64x2.mul (local.get $q) (f64x2.promote_low_f32x4 (local.get $w)))))
    (local.set $j (i32.add (local.get $j) (i32.const 4)))
    (br $vloop)))
  (block $sdone (loop $sloop
    (br_if $sdone (i32.ge_u (local.get $j) (local.get $cols)))
    (local.set $o (i32.shl (local.get $j) (i32.const 2)))
    (local.set $p (i32.shl (local.get $j) (i32.const 3)))
    (local.set $f (f64.promote_f32 (f32.load (i32.add (local.get $src) (local.get $o)))))
    (local.set $g (f64.promote_f32 (f32.load (i32.add (local.get $a) (local.get $o)))))
    (f64.store (i32.add (local.get $sums) (local.get $p)) (f64.add (f64.load (i32.add (local.get $sums) (local.get $p))) (local.get $f)))
    (f64.store (i32.add (local.get $prods) (local.get $p)) (f64.add (f64.load (i32.add (local.get $prods) (local.get $p))) (f64.mul (local.get $f) (local.get $g))))
    (local.set $j (i32.add (local.get $j) (i32.const 1)))
    (br $sloop)))
  (local.set $src (i32.add (local.get $src) (local.get $ss)))
  (if (local.get $aux) (then (local.set $aux (i32.add (local.get $aux) (local.get $ss)))))
  (local.set $r (i32.add (local.get $r) (i32.const 1)))
  (br $rloop)))
)`;

/**
 * pool3(x, y, items, steps, c): y[t] = max(x[t − 1], x[t], x[t + 1]) per item of steps×c floats (missing
 * neighbours are −∞), c a multiple of 4. pool3Back(x, dy, dx, items, steps, c): dx = the gradient, each dy
 * routed to the step its maximum took, ties as tfjs's max(max(left, x), right) sends them (the first
 * operand of a Maximum wins a tie). maxpool.ts's op.
 */
const pool3 = `
(func (export "pool3") (param $x i32) (param $y i32) (param $items i32) (param $steps i32) (param $c i32)
(local $i i32) (local $t i32) (local $j i32) (local $row i32) (local $p i32) (local $l v128) (local $r v128)
(local.set $row (i32.shl (local.get $c) (i32.const 2)))
(block $idone (loop $iloop
  (br_if $idone (i32.ge_u (local.get $i) (local.get $items)))
  (local.set $t (i32.const 0))
  (block $tdone (loop $tloop
    (br_if $tdone (i32.ge_u (local.get $t) (local.get $steps)))
    (local.set $j (i32.const 0))
    (block $jdone (loop $jloop
      (br_if $jdone (i32.ge_u (local.get $j) (local.get $row)))
      (local.set $p (i32.add (local.get $x) (local.get $j)))
      (local.set $l (if (result v128) (local.get $t)
        (then (v128.load (i32.sub (local.get $p) (local.get $row))))
        (else (v128.const f32x4 -inf -inf -inf -inf))))
      (local.set $r (if (result v128) (i32.lt_u (i32.add (local.get $t) (i32.const 1)) (local.get $steps))
        (then (v128.load (i32.add (local.get $p) (local.get $row))))
        (else (v128.const f32x4 -inf -inf -inf -inf))))
      (v128.store (i32.add (local.get $y) (local.get $j))
        (f32x4.max (f32x4.max (local.get $l) (v128.load (local.get $p))) (local.get $r)))
      (local.set $j (i32.add (local.get $j) (i32.const 16)))
      (br $jloop)))
    (local.set $x (i32.add (local.get $x) (local.get $row)))
    (local.set $y (i32.add (local.get $y) (local.get $row)))
    (local.set $t (i32.add (local.get $t) (i32.const 1)))
    (br $tloop)))
  (local.set $i (i32.add (local.get $i) (i32.const 1)))
  (br $iloop)))
)
(func (export "pool3Back") (param $x i32) (param $dy i32) (param $dx i32) (param $items i32) (param $steps i32) (param $c i32)
(local $i i32) (local $t i32) (local $j i32) (local $row i32) (local $p i32) (local $q i32)
(local $v v128) (local $l v128) (local $r v128) (local $g v128) (local $ml v128) (local $mr v128) (local $m1 v128)
(local.set $row (i32.shl (local.get $c) (i32.const 2)))
(memory.fill (local.get $dx) (i32.const 0) (i32.mul (i32.mul (local.get $items) (local.get $steps)) (local.get $row)))
(block $idone (loop $iloop
  (br_if $idone (i32.ge_u (local.get $i) (local.get $items)))
  (local.set $t (i32.const 0))
  (block $tdone (loop $tloop
    (br_if $tdone (i32.ge_u (local.get $t) (local.get $steps)))
    (local.set $j (i32.const 0))
    (block $jdone (loop $jloop
      (br_if $jdone (i32.ge_u (local.get $j) (local.get $row)))
      (local.set $p (i32.add (local.get $x) (local.get $j)))
      (local.set $q (i32.add (local.get $dx) (local.get $j)))
      (local.set $v (v128.load (local.get $p)))
      (local.set $g (v128.load (i32.add (local.get $dy) (local.get $j))))
      (local.set $l (if (result v128) (local.get $t)
        (then (v128.load (i32.sub (local.get $p) (local.get $row))))
        (else (v128.const f32x4 -inf -inf -inf -inf))))
      (local.set $r (if (result v128) (i32.lt_u (i32.add (local.get $t) (i32.const 1)) (local.get $steps))
        (then (v128.load (i32.add (local.get $p) (local.get $row))))
        (else (v128.const f32x4 -inf -inf -inf -inf))))
      ;; max(left, x): left wins when left >= x; then max(m1, right): right wins when m1 < right.
      (local.set $ml (f32x4.ge (local.get $l) (local.get $v)))
      (local.set $m1 (v128.bitselect (local.get $l) (local.get $v) (local.get $ml)))
      (local.set $mr (f32x4.lt (local.get $m1) (local.get $r)))
      (if (local.get $t) (then
        (v128.store (i32.sub (local.get $q) (local.get $row)) (f32x4.add (v128.load (i32.sub (local.get $q) (local.get $row)))
          (v128.and (local.get $g) (v128.andnot (local.get $ml) (local.get $mr)))))))
      (v128.store (local.get $q) (f32x4.add (v128.load (local.get $q))
        (v128.andnot (v128.andnot (local.get $g) (local.get $ml)) (local.get $mr))))
      (if (i32.lt_u (i32.add (local.get $t) (i32.const 1)) (local.get $steps)) (then
        (v128.store (i32.add (local.get $q) (local.get $row)) (f32x4.add (v128.load (i32.add (local.get $q) (local.get $row)))
          (v128.and (local.get $g) (local.get $mr))))))
      (local.set $j (i32.add (local.get $j) (i32.const 16)))
      (br $jloop)))
    (local.set $x (i32.add (local.get $x) (local.get $row)))
    (local.set $dy (i32.add (local.get $dy) (local.get $row)))
    (local.set $dx (i32.add (local.get $dx) (local.get $row)))
    (local.set $t (i32.add (local.get $t) (i32.const 1)))
    (br $tloop)))
  (local.set $i (i32.add (local.get $i) (i32.const 1)))
  (br $iloop)))
)`;

/** The whole module; `shared` imports a shared memory (threads), otherwise a plain one. */
export function gemmWat(options: { shared: boolean; shape?: GemmShape }): string {
  const shape = options.shape ?? DEFAULT_SHAPE;
  if (shape.nr % 4 !== 0 || shape.nc % shape.nr !== 0) {
    throw new Error(`gemmWat: nr (${shape.nr}) must be a multiple of 4 and nc (${shape.nc}) of nr`);
  }
  return `(module
(import "env" "memory" (memory 1 65536${options.shared ? ' shared' : ''}))
${kernel(shape)}
${packA(shape)}
${packB(shape)}
${copyTile}
${gemm(shape)}
${biasRelu}
${maskRows}
${affineRows}
${colMoments}
${pool3}
)
`;
}
