import { Markdown } from '../markdown';

/** A message's, note's or answer's text as Markdown, rendered inert (see ../markdown); images only from `imageHosts`. */
export function MessageText({ text, streaming = false, imageHosts }: { text: string; streaming?: boolean; imageHosts: readonly string[] }) {
  return <Markdown text={text} streaming={streaming} imageHosts={imageHosts} className="text" />;
}
