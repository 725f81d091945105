/**
 * A binary min-heap ordered by a byte key: the frontier of the sorted tree walks (layers and
 * COPY), so output comes in path-byte order without listing a whole tree first.
 */
export class ByteKeyHeap<T extends { readonly key: Buffer }> {
  readonly #items: T[] = [];

  get size(): number {
    return this.#items.length;
  }

  peek(): T | undefined {
    return this.#items[0];
  }

  push(node: T): void {
    const a = this.#items;
    a.push(node);
    let i = a.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (Buffer.compare((a[parent] as T).key, node.key) <= 0) break;
      a[i] = a[parent] as T;
      i = parent;
    }
    a[i] = node;
  }

  pop(): T | undefined {
    const a = this.#items;
    const top = a[0];
    const last = a.pop();
    if (a.length === 0 || last === undefined) return top;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= a.length) break;
      const r = l + 1;
      const c = r < a.length && Buffer.compare((a[r] as T).key, (a[l] as T).key) < 0 ? r : l;
      if (Buffer.compare((a[c] as T).key, last.key) >= 0) break;
      a[i] = a[c] as T;
      i = c;
    }
    a[i] = last;
    return top;
  }
}
