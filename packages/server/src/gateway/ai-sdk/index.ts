export { AiSdkChats, type AiSdkDependencies } from './chats.js';
export { aiSdkHttpRoutes, type AiSdkHttpOptions } from './http.js';
export { AI_SDK_WEBSOCKET_PATH, AiSdkWebSocket, type AiSdkWebSocketOptions } from './websocket.js';
