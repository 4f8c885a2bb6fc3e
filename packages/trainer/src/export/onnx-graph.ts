/**
 * @module
 * A small builder for ONNX graphs (IR 8, opset 17) on top of onnx-proto's protobuf classes: named inputs
 * and outputs with symbolic dimensions, float32 weights stored as float32 or float16, and nodes whose
 * output names are generated. Weights stored as float16 are cast back to float32 once, at the top of the
 * graph, so a fp16 file is half the download and computes exactly like the fp32 one on its rounded
 * weights.
 * @example
 * const g = new GraphBuilder('tiny', 'fp32');
 * const x = g.input('x', ['batch', 3]);
 * g.output(g.node('Relu', [x]), 'y', ['batch', 3]);
 * const bytes = g.toBytes();
 */

import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;

export const IR_VERSION = 8;
export const OPSET = 17;

export type WeightDtype = 'fp32' | 'fp16';
export type Dim = number | string;
type AttrValue = number | number[] | string | { floats: number[] } | { tensor: onnxProto.onnx.ITensorProto };

/** IEEE 754 half precision, round to nearest even; out-of-range values become ±Infinity. */
export function toFloat16Bits(value: number): number {
  const f32 = new Float32Array([value]);
  const x = new Uint32Array(f32.buffer)[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    let m = mant >>> shift;
    const rest = mant & ((1 << shift) - 1);
    if (rest > half || (rest === half && (m & 1) === 1)) m++;
    return sign | m;
  }
  let m = mant >>> 13;
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (m & 1) === 1)) {
    m++;
    if (m === 0x400) {
      m = 0;
      e++;
      if (e >= 0x1f) return sign | 0x7c00;
    }
  }
  return sign | (e << 10) | m;
}

export function fromFloat16Bits(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant === 0 ? sign * Number.POSITIVE_INFINITY : Number.NaN;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** The float32 values a fp16 file will hold: each weight rounded through half precision. */
export function roundToFloat16(values: Float32Array): Float32Array {
  const out = new Float32Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = fromFloat16Bits(toFloat16Bits(values[i]!));
  return out;
}

function valueInfo(name: string, elemType: number, dims: readonly Dim[]): onnxProto.onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType,
        shape: {
          dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })),
        },
      },
    },
  };
}

function attribute(name: string, value: AttrValue): onnxProto.onnx.IAttributeProto {
  const A = onnx.AttributeProto.AttributeType;
  if (typeof value === 'string') return { name, type: A.STRING, s: new TextEncoder().encode(value) };
  if (typeof value === 'number') {
    return Number.isInteger(value) ? { name, type: A.INT, i: value } : { name, type: A.FLOAT, f: value };
  }
  if (Array.isArray(value)) return { name, type: A.INTS, ints: value };
  if ('floats' in value) return { name, type: A.FLOATS, floats: value.floats };
  return { name, type: A.TENSOR, t: value.tensor };
}

export class GraphBuilder {
  readonly #nodes: onnxProto.onnx.INodeProto[] = [];
  readonly #initializers: onnxProto.onnx.ITensorProto[] = [];
  readonly #inputs: onnxProto.onnx.IValueInfoProto[] = [];
  readonly #outputs: onnxProto.onnx.IValueInfoProto[] = [];
  readonly #names = new Set<string>();
  #counter = 0;

  /** @param weights how weight initialisers are stored; computation is float32 either way */
  constructor(
    readonly graphName: string,
    readonly weights: WeightDtype,
  ) {}

  #fresh(hint: string): string {
    let name = `${hint}_${this.#counter++}`;
    while (this.#names.has(name)) name = `${hint}_${this.#counter++}`;
    this.#names.add(name);
    return name;
  }

  #claim(name: string): string {
    if (this.#names.has(name)) throw new Error(`GraphBuilder: name '${name}' is already used`);
    this.#names.add(name);
    return name;
  }

  input(name: string, dims: readonly Dim[], elemType: number = onnx.TensorProto.DataType.FLOAT): string {
    this.#inputs.push(valueInfo(this.#claim(name), elemType, dims));
    return name;
  }

  /** Marks `value` as a graph output called `name` (an Identity renames it when needed). */
  output(value: string, name: string, dims: readonly Dim[]): string {
    const out = value === name ? name : this.#claim(name);
    if (value !== name) this.#nodes.push({ opType: 'Identity', input: [value], output: [out], name: out });
    this.#outputs.push(valueInfo(out, onnx.TensorProto.DataType.FLOAT, dims));
    return out;
  }

  /** A float weight: stored in the builder's dtype, always read by the graph as float32. */
  weight(hint: string, values: Float32Array, dims: readonly number[]): string {
    const expected = dims.reduce((a, b) => a * b, 1);
    if (values.length !== expected) {
      throw new Error(
        `GraphBuilder: weight ${hint} has ${values.length} values for shape [${dims.join(', ')}]`,
      );
    }
    if (this.weights === 'fp32') {
      const name = this.#fresh(hint);
      this.#initializers.push({
        name,
        dims: [...dims],
        dataType: onnx.TensorProto.DataType.FLOAT,
        rawData: new Uint8Array(
          values.buffer.slice(values.byteOffset, values.byteOffset + values.byteLength),
        ),
      });
      return name;
    }
    const half = new Uint16Array(values.length);
    for (let i = 0; i < values.length; i++) half[i] = toFloat16Bits(values[i]!);
    const stored = this.#fresh(`${hint}_fp16`);
    this.#initializers.push({
      name: stored,
      dims: [...dims],
      dataType: onnx.TensorProto.DataType.FLOAT16,
      rawData: new Uint8Array(half.buffer),
    });
    return this.node('Cast', [stored], { to: onnx.TensorProto.DataType.FLOAT }, hint);
  }

  /** A small constant that is not a weight (shapes, axes, indices): always stored exactly. */
  constInt64(hint: string, values: readonly number[], dims: readonly number[] = [values.length]): string {
    const name = this.#fresh(hint);
    const data = new BigInt64Array(values.map((v) => BigInt(v)));
    this.#initializers.push({
      name,
      dims: [...dims],
      dataType: onnx.TensorProto.DataType.INT64,
      rawData: new Uint8Array(data.buffer),
    });
    return name;
  }

  constFloat(hint: string, values: readonly number[], dims: readonly number[] = [values.length]): string {
    const name = this.#fresh(hint);
    this.#initializers.push({
      name,
      dims: [...dims],
      dataType: onnx.TensorProto.DataType.FLOAT,
      rawData: new Uint8Array(new Float32Array(values).buffer),
    });
    return name;
  }

  /** Adds one node and returns its (first) output's name. */
  node(op: string, inputs: readonly string[], attrs: Record<string, AttrValue> = {}, hint = op): string {
    return this.nodeMulti(op, inputs, 1, attrs, hint)[0]!;
  }

  nodeMulti(
    op: string,
    inputs: readonly string[],
    outputs: number,
    attrs: Record<string, AttrValue> = {},
    hint = op,
  ): string[] {
    const names = Array.from({ length: outputs }, () => this.#fresh(hint));
    this.#nodes.push({
      opType: op,
      input: [...inputs],
      output: names,
      name: names[0],
      attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
    });
    return names;
  }

  toBytes(docString = ''): Uint8Array {
    const model = onnx.ModelProto.create({
      irVersion: IR_VERSION,
      opsetImport: [{ domain: '', version: OPSET }],
      producerName: '@ecg-tmp/trainer',
      producerVersion: '0.1.0',
      docString,
      graph: {
        name: this.graphName,
        node: this.#nodes,
        initializer: this.#initializers,
        input: this.#inputs,
        output: this.#outputs,
      },
    });
    return onnx.ModelProto.encode(model).finish();
  }
}

export const ONNX_INT64 = onnx.TensorProto.DataType.INT64;
