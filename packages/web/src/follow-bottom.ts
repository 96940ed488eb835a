import { useLayoutEffect, useRef } from 'react';

/**
 * Keeps a scrolling list at its bottom as `items` grow, while the reader is there; leaves them alone once they
 * scrolled up. Returns the list's ref and its scroll handler.
 */
export function useFollowBottom<Element extends HTMLElement>(items: unknown) {
  const list = useRef<Element>(null);
  const pinned = useRef(true);
  useLayoutEffect(() => {
    const element = list.current;
    if (element && pinned.current) element.scrollTop = element.scrollHeight;
  }, [items]);
  const onScroll = () => {
    const element = list.current;
    if (element) pinned.current = element.scrollHeight - element.scrollTop - element.clientHeight < 48;
  };
  return { list, onScroll };
}
