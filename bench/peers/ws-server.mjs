// The ceiling for Node: a raw `ws` server that relays each publisher message to every subscriber with a
// naive loop over one shared buffer, and acknowledges it to the publisher so that it can pace itself
// the way Parley's publisher does. Connections at /pub publish; every other connection subscribes.
import { WebSocketServer } from 'ws';

const server = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false, clientTracking: false });
const subscribers = new Set();

server.on('connection', (socket, request) => {
  socket.on('error', () => undefined);
  if (request.url === '/pub') {
    socket.on('message', (data) => {
      for (const subscriber of subscribers) subscriber.send(data, { binary: false });
      socket.send('ack');
    });
    return;
  }
  subscribers.add(socket);
  socket.on('close', () => subscribers.delete(socket));
});
server.on('listening', () => console.log(JSON.stringify({ msg: 'listening', port: server.address().port })));
