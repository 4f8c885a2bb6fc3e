/**
 * @module
 * The heart as the activation-time map draws it: the 75 recording sites and the epicardial mesh nodes
 * (the heart's silhouette) projected to 2-D, as a frontal (anterior) view of the heart placed in the
 * simulator's torso — the textbook view, apex pointing down and to the viewer's right. Built into
 * heart.json at build time from the simulator's mesh and placement.
 */

/** Body-frame coordinates (mm): x → the patient's left, y → posterior, z → head. */
export type BodyPoint = readonly [x: number, y: number, z: number];

export interface HeartSite {
  readonly name: string;
  /** Horizontal (the viewer's right = the patient's left) and vertical (head up) position, mm. */
  readonly u: number;
  readonly v: number;
  /** Distance behind the most anterior point (mm): sites further back are drawn first. */
  readonly depth: number;
}

export interface HeartView {
  /** In the data's site order (points.csv, the VmData columns). */
  readonly sites: readonly HeartSite[];
  /** Epicardial nodes as flat [u0, v0, u1, v1, …] (mm, 0.1 mm resolution). */
  readonly silhouette: readonly number[];
}

const round = (x: number) => Math.round(x * 10) / 10;

/**
 * Projects sites and silhouette points onto the frontal plane (looking at the chest from the front).
 * @example
 * const view = projectHeart(sites.map((s) => ({ name: s.name, body: toBody(s.position) })), epi);
 */
export function projectHeart(
  sites: readonly { readonly name: string; readonly body: BodyPoint }[],
  silhouette: readonly BodyPoint[],
): HeartView {
  const front = Math.min(...sites.map((s) => s.body[1]), ...silhouette.map((p) => p[1]));
  return {
    sites: sites.map(({ name, body: [x, y, z] }) => ({
      name,
      u: round(x),
      v: round(z),
      depth: round(y - front),
    })),
    silhouette: silhouette.flatMap(([x, , z]) => [round(x), round(z)]),
  };
}
