import { useLayoutEffect, useRef } from 'preact/hooks';

/**
 * Focuses the element once, when the component mounts. The `autofocus` attribute is honoured only once per document,
 * so an element that appears later (a confirmation, a form opened by a button) must be focused by hand.
 */
export function useFocusOnMount<T extends HTMLElement>() {
  const ref = useRef<T>(null);
  useLayoutEffect(() => {
    ref.current?.focus();
  }, []);
  return ref;
}
