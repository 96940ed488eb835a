// Socket.IO as commonly deployed for chat: clients join a room, a publisher's message goes out with
// io.to(room).emit and is acknowledged to the publisher. WebSocket transport only, no compression.
import { createServer } from 'node:http';
import { Server } from 'socket.io';

const http = createServer();
const io = new Server(http, { serveClient: false, transports: ['websocket'], perMessageDeflate: false });

io.on('connection', (socket) => {
  socket.on('join', (room, ack) => {
    socket.join(room);
    ack();
  });
  socket.on('publish', (room, payload, ack) => {
    io.to(room).emit('message', payload);
    ack();
  });
});
http.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ msg: 'listening', port: http.address().port })));
