/*! Sizes as user data writes them: a number with an optional b, k, m or g (any case), in bytes. */

export function parseSize(text: string): number {
  const m = /^([0-9]+)([bkmgBKMG]?)$/.exec(text);
  if (!m) throw new Error(`bad size ${text}`);
  const unit = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2]!.toLowerCase() as '' | 'b' | 'k' | 'm' | 'g'];
  return Number(m[1]) * unit;
}
