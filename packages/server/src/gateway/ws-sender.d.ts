// `ws` exports its frame builder, but @types/ws does not describe it.
import 'ws';

declare module 'ws' {
  export const Sender: {
    frame(data: Buffer, options: { fin: boolean; rsv1: boolean; opcode: number; mask: boolean; readOnly: boolean }): Buffer[];
  };
}
