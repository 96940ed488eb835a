export { ParleyClient, CLIENT_INFO } from './client.js';
export {
  type ClientEvents,
  type ClientOptions,
  type ClientState,
  type ConnectResult,
  type HistoryOptions,
  type HistoryPage,
  type InboxOptions,
  type InboxPage,
  type NoteResult,
  type OpenOptions,
  type OpenResult,
  type PingResult,
  type PresenceResult,
  type ReadResult,
  type RenderedCannedReply,
  type SendOptions,
  type StaffHistoryOptions,
  type StaffHistoryPage,
  type SubscribeOptions,
  type SupportTransition,
  type TransferTarget,
} from './options.js';
export { isKnownStaffEventType, parseStaffEvent, type KnownStaffEvent, type KnownStaffEventType, type ParleyStaffEvent, type ParsedStaffEvent, type UnknownStaffEvent } from './staff-events.js';
export { Generations, type GenerationState, type GenerationStatus } from './generations.js';
export { Subscription, type SubscribeResult, type SubscriptionEvents, type SubscriptionStatus } from './subscription.js';
export { ParleyClientError, type ClientErrorCode, type LocalErrorCode, type ParleyClientErrorOptions } from './errors.js';
export { backoffCeiling, backoffDelay, DEFAULT_BACKOFF, type BackoffOptions } from './backoff.js';
export { refreshDelay, type TokenSource } from './token.js';
export type { WebSocketConstructor, WebSocketLike } from './websocket.js';
export type { CodecName } from './codecs.js';
export { TRANSPORT_NAMES, type TransportName } from './transports.js';
export type { FetchFunction } from './http-socket.js';
export type { Listener } from './emitter.js';
export type {
  Ack,
  AnswerSource,
  Actor,
  Agent,
  AgentStatus,
  BusinessHours,
  CannedReply,
  ConversationMode,
  HandoffReason,
  InboxItem,
  InboxView,
  StaffEvent,
  SupportReport,
  SupportState,
  Team,
  TransitionOrigin,
  Content,
  ConversationEvent,
  ConversationView,
  ErrorCode,
  EventData,
  KnownEvent,
  KnownEventType,
  KnownSignal,
  KnownSignalType,
  ParleyEvent,
  ParleySignal,
  PrincipalView,
  Signal,
  SignalData,
  TextContent,
  Part,
  PartOf,
  PartsContent,
  AttachmentView,
  UnknownEvent,
  UnknownSignal,
  UnknownType,
} from '@parley/protocol';
/** The catalogue's helpers, for reading typed events. */
export { InvalidDataError, isKnownEvent, isKnownSignal, isTextContent, toolResultError } from '@parley/protocol';
/** Rich messages: reading parts as text, telling parts content apart, and which attachments are images. */
export { contentText, isPartsContent, isRasterImage } from '@parley/protocol';
