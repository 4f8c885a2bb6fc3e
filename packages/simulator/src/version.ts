/**
 * @module
 * The version of what the simulator draws. Sample (seed, index) is a pure function of the code, so the
 * data it made under another version is other data: the trainer names its synthetic sets with this
 * number (data/synthetic-d<version>-s<seed>-n<count>), and a set made by an older simulator is never
 * mistaken for today's. Bump it with every change to the simulator's default output; simulator.test.ts
 * holds a digest of a few samples to this number so a change cannot go unnoticed.
 *
 *   1  the first simulator (up to 2026-12-05)
 *   2  adult-norm ECG (issue 17, part 0): RV free wall in the fast layer, moderator-band early site,
 *      Purkinje-myocardial speeds, torso-boundary gain
 *   3  rbbb beats cross the RV free wall at myocardial speed (its Purkinje drive is blocked); the
 *      other classes as in 2
 */
export const DATA_VERSION = 3;
