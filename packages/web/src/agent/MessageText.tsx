/** A message's or answer's text, shown as it is (white space kept; React escapes it, so nothing in it runs). */
export function MessageText({ text }: { text: string }) {
  return <span className="text">{text}</span>;
}
